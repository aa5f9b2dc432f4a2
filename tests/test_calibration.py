"""Calibration sets: drawn with a seed, hashed, prepared per model, bad ones refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deploykit.calibration import load_calibration, make_calibration_set
from deploykit.errors import CalibrationError, InputError
from deploykit.fileio import sha256_file
from deploykit.spec import InputSpec, Preprocess

DEMO = InputSpec((1, 3, 32, 32), preprocess=Preprocess(mean=(0.5,) * 3, std=(0.5,) * 3))


@pytest.fixture(scope="module")
def raw_set(tmp_path_factory):
    return make_calibration_set("digits", 32, 0, tmp_path_factory.mktemp("cal") / "d.npz")


def test_raw_set_keeps_native_images_and_writes_a_manifest(raw_set):
    manifest = json.loads(raw_set.with_suffix(".json").read_text())
    assert manifest["schema"] == "deploykit.calibration/1"
    assert manifest["source"] == "digits:train"
    assert (manifest["count"], manifest["seed"], manifest["preprocessing"]) == (32, 0, "raw")
    assert manifest["shape"] == [32, 1, 8, 8]
    assert manifest["sha256"] == sha256_file(raw_set)
    with np.load(raw_set) as data:
        assert data["x"].dtype == np.float32 and 0.0 <= data["x"].min() <= data["x"].max() <= 1.0


def test_same_seed_same_images_other_seed_other_images(raw_set, tmp_path):
    again = make_calibration_set("digits", 32, 0, tmp_path / "a.npz")
    other = make_calibration_set("digits", 32, 1, tmp_path / "b.npz")
    x0, x1, x2 = (np.load(p)["x"] for p in (raw_set, again, other))
    assert np.array_equal(x0, x1) and not np.array_equal(x0, x2)


def test_raw_set_is_prepared_for_any_model_size(raw_set):
    spec = InputSpec((1, 3, 64, 64))  # ImageNet mean/std
    calib = load_calibration(raw_set, spec)
    assert calib.x.shape == (32, 3, 64, 64) and calib.x.dtype == np.float32
    assert calib.x.min() < -1.5  # normalised with ImageNet mean/std, not left in [0, 1]
    assert calib.info["count"] == 32 and calib.info["sha256"] == sha256_file(raw_set)
    assert calib.info["preprocessing"] == "raw"


def test_prepared_set_fits_its_model_and_is_refused_by_another(tmp_path):
    path = make_calibration_set("digits", 16, 0, tmp_path / "p.npz", DEMO)
    assert np.load(path)["x"].shape == (16, 3, 32, 32)
    assert load_calibration(path, DEMO).info["preprocessing"] == "prepared"
    with pytest.raises(CalibrationError, match="prepared with shape 3x32x32"):
        load_calibration(path, InputSpec((1, 3, 64, 64)))
    with pytest.raises(CalibrationError, match="preprocessing"):
        load_calibration(path, InputSpec((1, 3, 32, 32)))  # same size, ImageNet mean/std


def test_npy_and_image_folder_sources(tmp_path):
    from PIL import Image

    from deploykit.data import prepare

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 20, 20, 3), dtype=np.uint8)
    np.save(tmp_path / "imgs.npy", images)
    path = make_calibration_set(str(tmp_path / "imgs.npy"), 10, 0, tmp_path / "n.npz")
    x = np.load(path)["x"]
    assert x.shape == (10, 3, 20, 20) and x.dtype == np.uint8  # NHWC uint8 -> NCHW uint8
    pngs = {}
    for cls in ("cat", "dog"):
        (tmp_path / "folder" / cls).mkdir(parents=True)
        for i in range(5):
            pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "folder" / cls / f"{i}.png")
            pngs[pixels.tobytes()] = pixels
    path = make_calibration_set(str(tmp_path / "folder"), 8, 0, tmp_path / "f.npz")
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["count"] == 8 and manifest["dtype"] == "uint8"
    # Native size and the PNGs' own pixels, not 256x256 float32.
    stored = np.load(path)["x"]
    assert stored.shape == (8, 3, 24, 24) and stored.dtype == np.uint8
    assert all(image.transpose(1, 2, 0).tobytes() in pngs for image in stored)
    # Loaded for a model, the uint8 set gives what the float images would.
    calib = load_calibration(path, DEMO)
    assert np.allclose(calib.x, prepare(stored.astype(np.float32) / 255.0, DEMO), atol=1e-6)


def test_a_folder_of_32x32_pngs_is_stored_small(tmp_path):
    """256 digit PNGs at 32x32: 0.8 MB of uint8 (float32 at 256x256 was 201 MB)."""
    from deploykit.data import load_dataset
    from deploykit.data.datasets import write_image_folder

    folder = write_image_folder(load_dataset("digits", "all"), tmp_path / "digits", size=32)
    path = make_calibration_set(str(folder), 256, 0, tmp_path / "c.npz")
    assert np.load(path)["x"].shape == (256, 3, 32, 32)
    assert path.stat().st_size < 1_000_000


def test_bad_sets_are_refused(tmp_path):
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 3, 32, 32), np.float32))
    np.savez(tmp_path / "small.npz", x=np.zeros((4, 3, 32, 32), np.float32))
    with pytest.raises(CalibrationError, match="empty"):
        load_calibration(tmp_path / "empty.npz", DEMO)
    with pytest.raises(CalibrationError, match="4 images, fewer than the 8"):
        load_calibration(tmp_path / "small.npz", DEMO)
    with pytest.raises(InputError, match="does not exist"):
        load_calibration(tmp_path / "missing.npz", DEMO)


def test_cli_calibrate(cli, tmp_path):
    result = cli("calibrate", "digits", "--samples", "16", "--seed", "3", "-o", tmp_path / "c.npz")
    assert result.code == 0, result.stderr
    assert "16 raw images" in result.stdout
    assert json.loads((tmp_path / "c.json").read_text())["seed"] == 3
    result = cli(
        "calibrate", "digits", "--model", "demo_resnet", "--samples", "8", "-o", tmp_path / "m.npz"
    )
    assert result.code == 0 and np.load(tmp_path / "m.npz")["x"].shape == (8, 3, 32, 32)


def test_cli_calibrate_bad_input_leaves_nothing(cli, user_error, tmp_path):
    out = tmp_path / "out"
    user_error(cli("calibrate", "digits", "--samples", "5000", "-o", out / "c.npz"), "fewer than")
    user_error(cli("calibrate", "digits", "-o", out / "c.txt"), "must be a .npz")
    user_error(cli("calibrate", "nowhere", "-o", out / "c.npz"), "unknown dataset")
    user_error(
        cli("calibrate", "digits", "--samples", "0", "-o", out / "c.npz"),
        "--samples: 0 is out of range",
    )
    assert not out.exists() or not any(out.iterdir())


def test_channels_last_arrays_are_refused_for_every_int8_path(tmp_path):
    import numpy as np

    from deploykit.calibration import load_calibration
    from deploykit.errors import CalibrationError
    from deploykit.spec import InputSpec

    np.savez(
        tmp_path / "nhwc.npz", x=np.random.default_rng(0).random((16, 32, 32, 3), dtype=np.float32)
    )
    with pytest.raises(CalibrationError, match="channels-last"):
        load_calibration(tmp_path / "nhwc.npz", InputSpec(shape=(1, 3, 32, 32)))
