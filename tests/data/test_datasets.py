import numpy as np
import pytest
from PIL import Image

from deploykit.data import load_dataset, prepare
from deploykit.data.datasets import read_image
from deploykit.errors import InputError
from deploykit.spec import InputSpec, Preprocess


def test_digits_has_a_fixed_stratified_split():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert len(train) + len(test) == 1797 and len(test) == 400
    assert np.bincount(test.labels).min() >= 38  # every class is represented
    again = load_dataset("digits", "test")
    assert np.array_equal(test.labels, again.labels) and np.array_equal(test.images, again.images)
    assert test.images.min() >= 0 and test.images.max() <= 1


def test_prepare_resizes_repeats_channels_and_normalises():
    data = load_dataset("digits", limit=4)
    spec = InputSpec(shape=(1, 3, 32, 32), preprocess=Preprocess(mean=(0.5,) * 3, std=(0.5,) * 3))
    x = prepare(data.images, spec)
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.float32
    assert np.allclose(x[:, 0], x[:, 1]) and x.min() >= -1 - 1e-6 and x.max() <= 1 + 1e-6


def test_prepare_resize_then_centre_crop():
    images = np.zeros((1, 3, 100, 200), np.float32)
    images[:, :, :, 50:150] = 1.0  # a bright centre band
    spec = InputSpec(
        shape=(1, 3, 50, 50), preprocess=Preprocess(resize=50, crop=50, mean=(0,) * 3, std=(1,) * 3)
    )
    x = prepare(images, spec)
    assert x.shape == (1, 3, 50, 50) and x.mean() > 0.95  # the crop kept the centre


def test_image_folder_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / cls / f"{i}.png")
    data = load_dataset(str(tmp_path / "imgs"), "all")
    assert (
        len(data) == 12
        and data.classes == ("cat", "dog")
        and data.images.shape[1:] == (3, 20, 30)  # native size: one size for all
    )
    np.savez(tmp_path / "a.npz", x=np.ones((5, 8, 8, 3), np.float32), y=np.arange(5))
    arrays = load_dataset(str(tmp_path / "a.npz"), "all")
    assert arrays.images.shape == (5, 3, 8, 8) and list(arrays.labels) == [0, 1, 2, 3, 4]


def test_bad_dataset_references(tmp_path):
    with pytest.raises(InputError, match="unknown dataset"):
        load_dataset("mnist")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(InputError, match="no images"):
        load_dataset(str(tmp_path / "empty"))
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(InputError, match="cannot read image"):
        read_image(bad)
