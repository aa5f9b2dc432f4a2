"""Calibration sets: N images drawn with a fixed seed, saved as ``.npz`` plus a manifest.

A set is made once (``deploykit calibrate``) and used by every INT8 path (ONNX
Runtime Q/DQ, TensorRT, TFLite's representative dataset). Without an input
spec the images keep their native size as raw RGB in [0, 1] and are prepared
for each model when loaded; with a spec they are stored prepared for that one
model and refused by models that eat something else.

The ``.npz`` holds ``x`` (N x C x H x W), ``y`` (labels, -1 when unknown) and
``meta`` (the manifest as a JSON string, so the file describes itself even
without the ``.json`` beside it). Raw sets keep the source's own size and, where
the source is 8-bit (image files, uint8 arrays), its uint8 pixels: 256 digit
PNGs of 32x32 take 0.8 MB, not the 201 MB of 256x256 float32 they once did.
Prepared sets, and raw sets of float sources (digits), are float32; sets written
before uint8 storage load as they always did.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.errors import CalibrationError, InputError, ModelLoadError, first_line
from deploykit.fileio import atomic_path, existing_file, sha256_file, write_json_atomic
from deploykit.options import check_options, option
from deploykit.spec import InputSpec
from deploykit.untrusted import check_zip

SCHEMA = "deploykit.calibration/1"
METHODS = ("minmax", "entropy", "percentile")
# Fewer calibration images than this give unreliable activation ranges; INT8 refuses them.
MIN_SAMPLES = 8
RAW = "raw"


@dataclass
class CalibrationSet:
    """Calibration images ready for one model.

    Attributes:
        x: N x C x H x W float32, prepared for the spec it was loaded for.
        info: what the artifact manifest records: path, sha256, count, seed,
            source, preprocessing; the caller adds ``method``.
    """

    x: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    def batches(self, size: int = 1):
        """Yield the images ``size`` at a time (calibrators read them one batch per call)."""
        for start in range(0, len(self.x), size):
            yield self.x[start : start + size]


def check_method(method: str) -> str:
    """``method`` if it is a known calibration method, else a one-line error."""
    if method not in METHODS:
        raise InputError(
            f"unknown calibration method {method!r}", f"use one of {', '.join(METHODS)}"
        )
    return method


def _read_images(data: str) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """Raw images, labels, a source name, and whether the source is 8-bit.

    ``data`` is digits, an ImageFolder (read at native size), a .npy or a .npz.
    """
    from deploykit.data import load_dataset

    path = Path(data)
    if path.is_dir():  # image files: 8-bit, read at native size
        # Calibrate on training images: the test split stays for evaluation.
        dataset = load_dataset(data, split="train")
        return dataset.images, dataset.labels, dataset.name, True
    if path.suffix == ".npy":
        existing_file(path, "image array")
        try:
            array = np.load(path, allow_pickle=False)
            images = array.astype(np.float32)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"cannot read {path} ({exc})", "give a .npy written by numpy"
            ) from None
        if images.ndim != 4:
            raise InputError(f"{path}: images must be N x C x H x W, got shape {images.shape}")
        if images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
            images = images.transpose(0, 3, 1, 2)
        labels = -np.ones(len(images), np.int64)
        return np.ascontiguousarray(images), labels, str(path), array.dtype == np.uint8
    # The loader checks the archive (no pickles, sane arrays) before its dtype is looked at.
    dataset = load_dataset(data, split="train" if data == "digits" else "all")
    eight_bit = False
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            key = next((k for k in ("x", "images") if k in arrays), None)
            eight_bit = key is not None and arrays[key].dtype == np.uint8
    return dataset.images, dataset.labels, dataset.name, eight_bit


def _scale_to_unit(images: np.ndarray, source: str) -> np.ndarray:
    """8-bit images (max > 1) become [0, 1]; anything else outside [0, 1] is refused."""
    if images.size and float(images.max()) > 1.0:
        if float(images.min()) >= 0.0 and float(images.max()) <= 255.0:
            return images / 255.0
        raise CalibrationError(
            f"images in {source} range {images.min():.3g}..{images.max():.3g}",
            "store raw images in [0, 1] (or 0..255); deploykit normalises them per model",
        )
    return images


def make_calibration_set(
    data: str, samples: int, seed: int, out: Path, spec: InputSpec | None = None
) -> Path:
    """Draw ``samples`` images from ``data`` with ``seed`` and save them at ``out``.

    Args:
        data: ``digits``, an ImageFolder directory, or a ``.npy``/``.npz`` of images.
        samples: how many images to draw (without replacement).
        seed: the random seed of the draw.
        out: the ``.npz`` to write; its manifest is written beside it as ``.json``.
        spec: prepare the images for this input spec; None keeps raw images at
            their native size (uint8 where the source is 8-bit, else [0, 1] float32).

    Returns:
        ``out``.

    Raises:
        InputError: for a bad path, suffix or count.
        CalibrationError: when ``data`` holds fewer than ``samples`` images.
    """
    from deploykit.data import prepare

    out = Path(out)
    if out.suffix != ".npz":
        raise InputError(f"calibration set {out} must be a .npz file", "name it e.g. calib.npz")
    CalibrateRequest(samples=samples, seed=seed)  # checks the ranges
    images, labels, source, eight_bit = _read_images(data)
    if len(images) < samples:
        raise CalibrationError(
            f"{source} has {len(images)} images, fewer than the {samples} asked for",
            "ask for fewer --samples or give a larger set",
        )
    index = np.sort(np.random.default_rng(seed).choice(len(images), samples, replace=False))
    picked = _scale_to_unit(images[index].astype(np.float32), source)
    if spec:
        x = prepare(picked, spec)
    elif eight_bit:  # exact: the [0, 1] floats were 8-bit values / 255
        x = np.round(picked * 255.0).astype(np.uint8)
    else:
        x = np.ascontiguousarray(picked, dtype=np.float32)
    meta: dict[str, Any] = {
        "schema": SCHEMA,
        "source": source,
        "count": len(x),
        "seed": seed,
        "preprocessing": spec.preprocess.to_dict() if spec else RAW,
        "input": spec.with_batch(1).with_layout("NCHW").to_dict() if spec else None,
        "shape": list(x.shape),
        "dtype": str(x.dtype),
    }
    if x.dtype == np.uint8:
        meta["scale"] = "pixels / 255 give the raw [0, 1] images"
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x=x,
        y=labels[index].astype(np.int64),
        meta=np.array(json.dumps(meta)),
    )
    content = buffer.getvalue()
    with atomic_path(out) as tmp:
        tmp.write_bytes(content)
    write_json_atomic(
        out.with_suffix(".json"),
        {**meta, "file": out.name, "sha256": hashlib.sha256(content).hexdigest()},
    )
    return out


def _read_npz(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """``x`` and the embedded manifest (``{}`` for a plain array file) of a set."""
    from deploykit.data.datasets import npz_meta

    check_zip(path, f"calibration set {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data:
                raise CalibrationError(
                    f"calibration set {path} has no 'x' array",
                    "make one with: deploykit calibrate digits -o calib.npz",
                )
            x = data["x"]
            if x.dtype.kind not in "uif":
                raise ValueError(f"'x' holds {x.dtype} values, not numbers")
            meta = npz_meta(data)
    except (OSError, ValueError) as exc:
        raise CalibrationError(
            f"cannot read calibration set {path} ({first_line(exc)})",
            "make one with: deploykit calibrate digits -o calib.npz",
        ) from None
    return x, meta


def _check_prepared(path: Path, meta: dict[str, Any], spec: InputSpec, x: np.ndarray) -> None:
    """Refuse a set prepared for another input shape or preprocessing."""
    want = spec.with_layout("NCHW")
    shape_ok = tuple(x.shape[1:]) == tuple(want.nchw[1:])
    pre_ok = meta.get("preprocessing") in (None, want.preprocess.to_dict())
    if shape_ok and pre_ok:
        return
    have = "x".join(map(str, x.shape[1:]))
    needs = "x".join(map(str, want.nchw[1:]))
    what = f"shape {have}" if not shape_ok else f"preprocessing {meta.get('preprocessing')}"
    raise CalibrationError(
        f"calibration set {path} was prepared with {what}, the model needs {needs} "
        f"with mean {list(want.preprocess.mean)} std {list(want.preprocess.std)}",
        "remake it for this model (deploykit calibrate ... --model NAME) or without "
        "--model/--input-shape to keep raw images",
    )


def load_calibration(path: Path, spec: InputSpec, min_samples: int = MIN_SAMPLES) -> CalibrationSet:
    """Load a calibration set and prepare it for ``spec``.

    Raw sets (made without a spec) are resized and normalised to ``spec``; sets
    prepared for a model must match ``spec`` exactly. A ``.npz`` without our
    manifest is treated as prepared input when its images have ``spec``'s
    shape and are not in [0, 1], else as raw images.

    Args:
        path: the ``.npz``.
        spec: the model's input spec.
        min_samples: fewer images than this is refused.

    Raises:
        InputError: when the file does not exist.
        CalibrationError: when it is unreadable, empty, too small or prepared
            for another model.
    """
    from deploykit.data import prepare

    path = existing_file(path, "calibration set")
    x, meta = _read_npz(path)
    if x.ndim != 4 or len(x) == 0:
        raise CalibrationError(
            f"calibration set {path} is empty"
            if x.size == 0 or len(x) == 0
            else f"calibration set {path} holds shape {x.shape}, not N x C x H x W images",
            "make one with: deploykit calibrate digits --samples 256 -o calib.npz",
        )
    if x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        # Read as NCHW, an N x H x W x C array would calibrate on garbage.
        raise CalibrationError(
            f"calibration set {path} holds channels-last images {'x'.join(map(str, x.shape))}",
            "store N x C x H x W (as `deploykit calibrate` does); NHWC models get it transposed",
        )
    if len(x) < min_samples:
        raise CalibrationError(
            f"calibration set {path} has {len(x)} images, fewer than the {min_samples} needed",
            "make a larger one with deploykit calibrate --samples 256",
        )
    eight_bit = x.dtype == np.uint8
    x = x.astype(np.float32) / 255.0 if eight_bit else x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise CalibrationError(f"calibration set {path} contains NaN or infinite values")
    raw = meta.get("preprocessing", RAW) == RAW or eight_bit
    if not meta and not eight_bit:
        # A user's own array: prepared input if it already has the model's shape
        # and is clearly normalised (outside [0, 1]); raw images otherwise.
        fits = tuple(x.shape[1:]) == tuple(spec.nchw[1:])
        raw = not (fits and (x.min() < 0.0 or x.max() > 1.0))
        if raw:
            x = _scale_to_unit(x, str(path))
    if raw:
        prepared = prepare(x, spec)
    else:
        _check_prepared(path, meta, spec, x)
        prepared = np.ascontiguousarray(x)
    info = {
        "path": str(path),
        "sha256": sha256_file(path),
        "count": len(prepared),
        "seed": meta.get("seed"),
        "source": meta.get("source", str(path)),
        "preprocessing": RAW if raw else "prepared",
    }
    return CalibrationSet(prepared, info)


def spec_for(model: str | None, input_shape: str | None) -> InputSpec | None:
    """The input spec a set is prepared for: from ``--model`` or ``--input-shape``; None: raw.

    Args:
        model: a registry name or any model reference :func:`load_model` takes.
        input_shape: ``NxCxHxW`` (ImageNet mean/std), used when ``model`` is None.
    """
    from deploykit.spec import parse_shape, spec_for_shape

    if model and input_shape:
        raise InputError("give --model or --input-shape, not both")
    if input_shape:
        return spec_for_shape(parse_shape(input_shape)).with_layout("NCHW")
    if not model:
        return None
    from deploykit.zoo import get_entry

    try:
        return get_entry(model).input_spec().with_layout("NCHW")
    except ModelLoadError:
        from deploykit.sources import load_model

        return load_model(model).spec.with_layout("NCHW")


@dataclass(frozen=True)
class CalibrateRequest:
    """How to draw a calibration set.

    Attributes:
        samples: images to draw (without replacement).
        seed: the seed of the draw.
        model: prepare the images for this model (None: keep them raw).
        input_shape: prepare them for this ``NxCxHxW`` shape instead.
    """

    samples: int = option(256, "Images to draw.", min=MIN_SAMPLES)
    seed: int = option(0, "Seed of the draw.")
    model: str | None = option(None, "Prepare the images for this model (default: keep raw).")
    input_shape: str | None = option(None, "Prepare them for NxCxHxW instead, e.g. 1x3x32x32.")

    def __post_init__(self) -> None:
        check_options(self)
