"""Feature-map grids: real PNGs of the activations at the layers asked for."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from deploykit.data import load_dataset
from deploykit.inspect.featuremaps import capture
from deploykit.zoo import create_model, get_entry


@pytest.fixture
def digit_png(tmp_path):
    """One real handwritten digit, upscaled, as a PNG file."""
    image = load_dataset("digits", "test", limit=1).images[0, 0]
    path = tmp_path / "digit.png"
    Image.fromarray((image * 255).astype(np.uint8)).resize((32, 32)).save(path)
    return path


def test_capture_returns_the_layer_output():
    model = create_model("demo_resnet")
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    outputs = capture(model, x, ["stem", "stages.1"])
    with torch.no_grad():
        stem = model.stem(torch.from_numpy(x))
        expected = model.stages[1](model.stages[0](stem))
    np.testing.assert_allclose(outputs["stem"], stem.numpy(), rtol=1e-6)
    np.testing.assert_allclose(outputs["stages.1"], expected.numpy(), rtol=1e-5, atol=1e-6)


def test_cli_writes_valid_png_grids(cli, digit_png, tmp_path):
    maps = tmp_path / "maps"
    result = cli(
        "inspect", "demo_resnet", "--feature-maps", digit_png, "--layers", "stem,stages.2",
        "-o", maps, "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    records = {r["layer"]: r for r in json.loads(result.stdout)}
    assert records["stem"]["shape"] == [1, 16, 32, 32]
    assert records["stages.2"]["shape"] == [1, 64, 8, 8]
    for name, grid in (("stem", 4), ("stages.2", 8)):  # 16 channels -> 4x4, 64 -> 8x8
        with Image.open(maps / f"{name}.png") as png:
            png.verify()
        with Image.open(maps / f"{name}.png") as png:
            assert png.format == "PNG"
            assert png.size == (round(1.4 * grid * 100), round((1.4 * grid + 0.4) * 100))
            assert np.asarray(png.convert("L")).std() > 0  # something was drawn


def test_unknown_layer_is_one_line(cli, user_error, digit_png, tmp_path):
    maps = tmp_path / "maps"
    result = cli(
        "inspect", "resnet18", "--feature-maps", digit_png, "--layers", "layer9", "-o", maps
    )
    user_error(result, "no layer named 'layer9'", "layer4")
    assert not maps.exists()


def test_unreadable_image_is_one_line(cli, user_error, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    maps = tmp_path / "maps"
    result = cli("inspect", "demo_resnet", "--feature-maps", bad, "--layers", "stem", "-o", maps)
    user_error(result, "cannot read image")
    assert not list(maps.glob("*.png")) if maps.exists() else True


def test_layers_without_an_image_is_one_line(cli, user_error):
    user_error(cli("inspect", "demo_resnet", "--layers", "stem"), "--feature-maps")


def test_default_spec_of_a_registry_model_is_used(digit_png, tmp_path):
    from deploykit.inspect.featuremaps import image_batch

    batch = image_batch(digit_png, get_entry("resnet18").input_spec())
    assert batch.shape == (1, 3, 224, 224)
