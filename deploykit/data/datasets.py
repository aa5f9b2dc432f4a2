"""Labelled image sets: digits, ImageFolder, and arrays in .npz files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.data.images import read_image
from deploykit.errors import InputError
from deploykit.untrusted import check_zip

__all__ = ["Dataset", "image_folder", "load_dataset", "npz_arrays", "read_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DIGITS_TEST_SIZE = 400
SPLITS = ("train", "test", "all")
MIXED_SIZE = 256  # images of different sizes are read at this square size


@dataclass(frozen=True)
class Dataset:
    """Raw images and labels.

    Attributes:
        images: N x C x H x W float32 in [0, 1].
        labels: N int64 class indices (-1 where unlabelled).
        classes: class names, indexed by label.
        name: where the set came from, e.g. ``"digits:test"``.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    name: str

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, count: int | None) -> Dataset:
        """The first ``count`` samples (all when None)."""
        if count is None or count >= len(self):
            return self
        return Dataset(self.images[:count], self.labels[:count], self.classes, self.name)


def _split(labels: np.ndarray, split: str, test_size: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    if split == "all":
        return index
    train, test = train_test_split(index, test_size=test_size, random_state=seed, stratify=labels)
    return np.sort(train if split == "train" else test)


def digits(split: str = "test") -> Dataset:
    """scikit-learn's 1,797 real 8x8 handwritten digits, with a fixed 400-image test split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]
    labels = bunch.target.astype(np.int64)
    index = _split(labels, split, DIGITS_TEST_SIZE, seed=0)
    classes = tuple(str(i) for i in range(10))
    return Dataset(images[index], labels[index], classes, f"digits:{split}")


def image_folder(root: Path, split: str = "test", size: int | None = None) -> Dataset:
    """An ImageFolder (one sub-folder per class) read into memory.

    A ``train``/``val``/``test`` sub-folder is used when present; otherwise the
    folder is split 80/20 with a fixed seed. Images keep their native size when
    they all share one (the spec's own resize and crop follow in ``prepare``);
    otherwise, or when ``size`` is given, they are read at ``size`` (256) square.
    A folder of 8x8 PNGs stays 8x8 in memory instead of 256x256 float32.
    """
    if split != "all":
        for name in (split, "val" if split == "test" else split):
            if (root / name).is_dir():
                return image_folder(root / name, "all", size)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    per_class = [
        [f for f in sorted((root / cls).rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES]
        for cls in classes
    ]
    files = [(f, label) for label, found in enumerate(per_class) for f in found]
    if not files:
        raise InputError(
            f"no images found in {root}",
            "an ImageFolder has one sub-folder per class holding .png/.jpg files",
        )
    empty = [cls for cls, found in zip(classes, per_class, strict=True) if not found]
    if empty:
        # Skipping it would shift every later class index; keeping it trains a class
        # that cannot be learnt. torchvision's ImageFolder refuses it too.
        raise InputError(
            f"class folder {root / empty[0]} has no images ({len(empty)} empty of {len(classes)})",
            "add images or remove the folder",
        )
    _check_same_classes(root, classes)
    labels = np.array([label for _, label in files], dtype=np.int64)
    counts = np.bincount(labels)
    if split != "all" and len(files) >= 10 and counts.min() >= 2:
        index = _split(labels, split, max(len(classes), len(files) // 5), seed=0)
    else:
        index = np.arange(len(files))
    read = [read_image(files[i][0], size) for i in index]
    if len({image.shape for image in read}) > 1:
        read = [read_image(files[i][0], MIXED_SIZE) for i in index]
    images = np.stack(read)
    return Dataset(images, labels[index], tuple(classes), f"{root}:{split}")


def npz_arrays(path: Path) -> Dataset:
    """Images (key ``x`` or ``images``) and optional labels (``y`` or ``labels``) from .npz.

    Integer images are scaled from their dtype's range (uint8 by 255, uint16 by
    65535); float images must already be in [0, 1]. Labels are integers, -1 for
    unlabelled, one per image.
    """
    check_zip(path, f"data file {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            key = next((k for k in ("x", "images") if k in data), None)
            if key is None:
                raise InputError(f"{path} has no 'x' or 'images' array", "save images under 'x'")
            npz_meta(data)  # a set that describes itself must do so as an object
            images = _scaled_images(data[key], path, key)
            label_key = next((k for k in ("y", "labels") if k in data), None)
            labels = _labels(data[label_key], len(images), path, label_key) if label_key else None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path} ({exc})", "give a .npz written by numpy") from None
    if labels is None:
        labels = -np.ones(len(images), np.int64)
    if images.ndim != 4:
        raise InputError(f"{path}: images must be N x C x H x W, got shape {images.shape}")
    if images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    top = int(labels.max()) if len(labels) else -1
    classes = tuple(str(i) for i in range(top + 1))
    return Dataset(np.ascontiguousarray(images), labels, classes, str(path))


def npz_meta(data: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The JSON object an open ``.npz`` keeps under ``meta`` (``{}`` when it has none).

    Raises:
        ValueError: when ``meta`` is not JSON, or is JSON but not an object.
    """
    if "meta" not in data:
        return {}
    meta = json.loads(str(data["meta"]))
    if not isinstance(meta, dict):
        raise ValueError(f"'meta' is a JSON {type(meta).__name__}, not an object")
    return meta


def _scaled_images(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """``x`` as float32 in [0, 1]: uint8/uint16 scaled by their maximum, wider integers by 255."""
    if x.dtype.kind not in "uibf":
        raise InputError(
            f"{path}: '{key}' holds {x.dtype} values, not pixels",
            "store images as uint8 or as floats in [0, 1]",
        )
    scale = 1.0
    if x.dtype.kind in "ui":
        scale = float(np.iinfo(x.dtype).max) if x.dtype in (np.uint8, np.uint16) else 255.0
    images = x.astype(np.float32) / np.float32(scale)
    if images.size and (not np.isfinite(images).all() or images.min() < 0 or images.max() > 1):
        raise InputError(
            f"{path}: '{key}' is {x.dtype} with values {np.nanmin(x):g}..{np.nanmax(x):g}, "
            f"outside 0..{scale:g}",
            "store uint8 pixels, or floats in [0, 1]",
        )
    return images


def _labels(y: np.ndarray, count: int, path: Path, key: str) -> np.ndarray:
    """Integer class labels, one per image, each -1 (unlabelled) or more."""
    integral = y.dtype.kind in "iub" or (
        y.dtype.kind == "f" and np.isfinite(y).all() and np.array_equal(y, np.round(y))
    )
    if not integral or y.ndim != 1:
        raise InputError(
            f"{path}: '{key}' must be a 1-D array of integer class indices (got {y.dtype}, shape {y.shape})"
        )
    if len(y) != count:
        raise InputError(f"{path}: {len(y)} labels for {count} images", "give one label per image")
    labels = y.astype(np.int64)
    if len(labels) and labels.min() < -1:
        raise InputError(
            f"{path}: label {labels.min()} is out of range", "use 0..N-1, or -1 for unlabelled"
        )
    return labels


def _check_same_classes(root: Path, classes: list[str]) -> None:
    """A split folder (train/val/test) must list the same classes as its siblings."""
    if root.name not in ("train", "val", "test"):
        return
    for sibling in ("train", "val", "test"):
        other = root.parent / sibling
        if sibling != root.name and other.is_dir():
            theirs = sorted(p.name for p in other.iterdir() if p.is_dir())
            if theirs != classes:
                missing = sorted(set(theirs) ^ set(classes))
                raise InputError(
                    f"{root} and {other} have different class folders ({', '.join(missing[:3])})",
                    "class indices follow the sorted folder names; give every split every class",
                )


def load_dataset(ref: str, split: str = "test", limit: int | None = None) -> Dataset:
    """Load a dataset by reference: ``digits``, an ImageFolder directory, or a ``.npz`` file.

    Args:
        ref: the reference.
        split: ``train``, ``test`` or ``all``.
        limit: keep at most this many samples.
    """
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}", f"use one of {', '.join(SPLITS)}")
    if ref == "digits":
        return digits(split).take(limit)
    path = Path(ref)
    if path.is_dir():
        return image_folder(path, split).take(limit)
    if path.suffix == ".npz" and path.is_file():
        return npz_arrays(path).take(limit)
    raise InputError(
        f"unknown dataset {ref!r}",
        "use 'digits', an ImageFolder directory, or a .npz file with images under 'x'",
    )


def write_image_folder(dataset: Dataset, root: Path, size: int | None = None) -> Path:
    """Write ``dataset`` as an ImageFolder of 8-bit PNGs: ``root/<class>/<index>.png``.

    Args:
        dataset: labelled images (unlabelled ones are skipped).
        root: the folder to create (it may exist; files of the same name are replaced).
        size: resize each image to this square size (None: keep its size).
    """
    from PIL import Image

    root = Path(root)
    for index, (image, label) in enumerate(zip(dataset.images, dataset.labels, strict=True)):
        if label < 0:
            continue
        folder = root / dataset.classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
        picture = Image.fromarray(pixels[0] if len(pixels) == 1 else pixels.transpose(1, 2, 0))
        if size:
            picture = picture.resize((size, size), Image.BILINEAR)
        picture.save(folder / f"{index:05d}.png")
    return root
