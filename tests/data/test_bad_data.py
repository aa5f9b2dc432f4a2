"""Bad data fails loudly in one line, never silently wrong: image modes, empty classes, .npz."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from deploykit.data import load_dataset
from deploykit.data.datasets import read_image
from deploykit.errors import InputError


def _gradient(dtype, top) -> np.ndarray:
    return (np.linspace(0, 1, 16 * 16).reshape(16, 16) * top).astype(dtype)


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        ("I;16", lambda: Image.fromarray(_gradient(np.uint16, 65535))),
        ("I", lambda: Image.fromarray(_gradient(np.int32, 65535))),
        ("F", lambda: Image.fromarray(_gradient(np.float32, 1.0))),
        ("L", lambda: Image.fromarray(_gradient(np.uint8, 255))),
        ("LA", lambda: Image.fromarray(_gradient(np.uint8, 255)).convert("LA")),
        ("RGBA", lambda: Image.fromarray(_gradient(np.uint8, 255)).convert("RGBA")),
        (
            "P",
            lambda: Image.fromarray(_gradient(np.uint8, 255)).convert("P", palette=Image.ADAPTIVE),
        ),
    ],
)
def test_every_mode_reads_as_the_same_grey_ramp(mode, make, tmp_path):
    img = make()
    path = tmp_path / f"img.{'tif' if mode in ('I', 'F') else 'png'}"
    img.save(path)
    with Image.open(path) as check:
        assert check.mode == mode
    x = read_image(path)
    assert x.shape == (3, 16, 16) and x.dtype == np.float32
    expected = np.linspace(0, 1, 256).reshape(16, 16)
    # A palette quantises the ramp; everything else keeps it to 8-bit precision.
    assert np.abs(x[0] - expected).max() < (0.05 if mode == "P" else 1 / 255 + 1e-6), mode
    assert np.allclose(x[0], x[2])


def test_out_of_range_float_image_is_refused(tmp_path):
    Image.fromarray(np.full((4, 4), 7.5, np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(InputError, match=r"outside \[0, 1\]"):
        read_image(tmp_path / "f.tif")


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and header chunk claiming ``width`` x ``height`` 8-bit grey pixels."""
    body = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + body
        + struct.pack(">I", zlib.crc32(body))
        + end
    )


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(30000, 30000))
    with pytest.raises(InputError, match="decompression bomb"):
        read_image(path)


def _folder(root, counts: dict[str, int]):
    for cls, count in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((4, 4, 3), i * 20, np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_empty_class_folder_is_refused(tmp_path):
    root = _folder(tmp_path / "imgs", {"a": 3, "b": 0, "c": 3})
    with pytest.raises(InputError, match=r"class folder .*b has no images"):
        load_dataset(str(root), "all")


def test_splits_with_different_classes_are_refused(tmp_path):
    _folder(tmp_path / "imgs" / "train", {"a": 2, "b": 2, "c": 2})
    _folder(tmp_path / "imgs" / "val", {"a": 2, "c": 2})
    with pytest.raises(InputError, match="different class folders"):
        load_dataset(str(tmp_path / "imgs"), "test")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"x": np.zeros((4, 3, 8, 8), np.float32), "y": np.array([0, 1, 2])},
            "3 labels for 4 images",
        ),
        ({"x": np.zeros((2, 3, 8, 8), np.float32), "y": np.array([0, -5])}, "out of range"),
        (
            {"x": np.zeros((2, 3, 8, 8), np.float32), "y": np.array([0.5, 1])},
            "integer class indices",
        ),
        ({"x": np.array([["a"] * 8] * 2)}, "not pixels"),
        ({"x": np.full((2, 3, 8, 8), 200.0, np.float32)}, "outside 0..1"),
    ],
    ids=["count", "negative", "fractional", "strings", "float range"],
)
def test_npz_oddities_are_one_line_each(arrays, message, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=message):
        load_dataset(str(path), "all")


def test_object_array_npz_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array([object(), 1], dtype=object))
    with pytest.raises(InputError, match="cannot read"):
        load_dataset(str(path), "all")


def test_uint8_npz_is_scaled_to_unit_range(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.full((2, 8, 8, 3), 255, np.uint8), y=np.array([0, 1]))
    data = load_dataset(str(path), "all")
    assert data.images.shape == (2, 3, 8, 8) and data.images.max() == 1.0


@pytest.mark.parametrize(
    "case",
    ["empty class", "16-bit out of range", "npz label count", "npz meta a list", "npz label 57"],
)
def test_bad_data_is_one_line_from_the_cli(case, tmp_path, cli, user_error):
    if case == "empty class":
        data = _folder(tmp_path / "imgs", {"a": 2, "b": 0})
        fragment = "has no images"
    elif case == "16-bit out of range":
        data = _folder(tmp_path / "imgs", {"a": 2})
        Image.fromarray(np.full((4, 4), 70000, np.int32)).save(data / "a" / "big.tif")
        fragment = "outside 0..65535"
    else:
        data = tmp_path / "d.npz"
        x = np.zeros((4, 3, 8, 8), np.uint8)
        arrays, fragment = {
            "npz label count": ({"y": np.array([0, 1])}, "2 labels for 4 images"),
            "npz meta a list": (
                {"y": np.arange(4), "meta": np.array("[1, 2]")},
                "'meta' is a JSON list, not an object",
            ),
            # Read fine; only the model shows it cannot output label 57 (demo_resnet has 10).
            "npz label 57": (
                {"y": np.array([0, 1, 2, 57])},
                "labels go up to 57 but the model has 10 outputs",
            ),
        }[case]
        np.savez(data, x=x, **arrays)
    before = sorted(tmp_path.rglob("*"))
    out = tmp_path / "out"
    result = cli("bench", "demo_resnet", "--data", data, "-o", out, "--iters", "3")
    user_error(result, fragment)
    assert result.code == 2 and not [p for p in out.rglob("*") if p.is_file()]
    assert len((result.stdout + result.stderr).strip().splitlines()) <= 6, result
    assert sorted(p for p in tmp_path.rglob("*") if p != out) == before  # nothing else written
