"""Keras sources: ``.keras``/``.h5`` files (safe mode), ``keras:<Application>`` names, factories.

Keras models take NHWC input; the spec says so and runners convert deploykit's
NCHW batches at their boundary.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from deploykit.errors import InputError, ModelLoadError, first_line
from deploykit.fileio import existing_file, sha256_file
from deploykit.manifest import read_manifest
from deploykit.sources.base import LoadedModel, SourceOptions
from deploykit.spec import ASSUMED_PREPROCESS, InputSpec, Preprocess
from deploykit.tensorflow_compat import import_keras, keras_application_names
from deploykit.untrusted import check_h5, check_zip

DEFAULT_HW = (224, 224)


def _nhwc_shape(shape: tuple[Any, ...], ref: str) -> tuple[int, int, int, int]:
    """A concrete NHWC shape (batch 1) from a Keras input shape, or a one-line error."""
    if len(shape) != 4 or any(d is None for d in shape[1:]):
        raise ModelLoadError(
            f"{ref} has input shape {tuple(shape)}, not a fixed-size image batch",
            "pass --input-shape 1xHxWxC",
        )
    return (1, int(shape[1]), int(shape[2]), int(shape[3]))


def _requested_shape(options: SourceOptions) -> tuple[int, int, int, int] | None:
    """``--input-shape`` read as NHWC (an NCHW shape with 1 or 3 channels first is turned)."""
    if options.input_shape is None:
        return None
    n, a, b, c = options.input_shape
    if c not in (1, 3) and a in (1, 3):
        return (n, b, c, a)
    return (n, a, b, c)


def _spec(shape: tuple[int, ...], preprocess: Preprocess | None = None) -> InputSpec:
    return InputSpec(shape=tuple(shape), layout="NHWC", preprocess=preprocess or Preprocess())


def from_model(
    model: Any, ref: str, options: SourceOptions, source: dict[str, Any] | None = None
) -> LoadedModel:
    """Wrap an in-memory Keras model (from a factory, a file or keras.applications).

    Args:
        model: a built ``keras.Model`` with one NHWC image input.
        ref: the reference it came from, for the name and the manifest.
        options: ``input_shape`` overrides the batch size recorded in the spec.
        source: provenance; default: the reference only.
    """
    keras = import_keras()
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"{ref} is a {type(model).__name__}, not a keras.Model")
    if len(model.inputs) != 1:
        raise ModelLoadError(f"{ref} has {len(model.inputs)} inputs", "give a single-image model")
    shape = _nhwc_shape(tuple(model.inputs[0].shape), ref)
    wanted = _requested_shape(options)
    if wanted and wanted[1:] != shape[1:]:
        raise InputError(
            f"--input-shape {'x'.join(map(str, wanted))} does not match the model's "
            f"input 1x{'x'.join(map(str, shape[1:]))}",
            "drop --input-shape or rebuild the model at that size",
        )
    if wanted:
        shape = (wanted[0], *shape[1:])
    name = re.sub(r"[^A-Za-z0-9_]+", "_", ref.rpartition(":")[2] or model.name).lower()
    return LoadedModel(
        "keras",
        Path(name).stem,
        _spec(shape, ASSUMED_PREPROCESS),
        source or {"ref": ref, "kind": "keras-factory", "sha256": None},
        model=model,
        num_classes=int(model.outputs[0].shape[-1]),
    )


def _load_file(path: Path, options: SourceOptions) -> Any:
    """``keras.models.load_model`` in safe mode unless the user trusts the file's code."""
    if path.suffix == ".keras":  # a zip: Keras extracts it, so cap it first
        check_zip(path, f"model file {path}")
    elif path.suffix == ".h5":  # HDF5: Keras reads every array whole, so cap them first
        check_h5(path, f"model file {path}")
    keras = import_keras()
    try:
        return keras.models.load_model(path, compile=False, safe_mode=not options.trust_code)
    except Exception as exc:  # Keras raises ValueError/TypeError/OSError for bad files
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            raise ModelLoadError(
                f"{path} contains a Lambda layer, which runs code stored in the file",
                "pass --trust-code only if you trust where the file came from",
            ) from None
        if "Could not locate" in text or "custom" in text.lower():
            raise ModelLoadError(
                f"{path} uses a custom layer or object Keras does not know ({first_line(exc)})",
                "build it with a module:factory that imports the custom code",
            ) from None
        raise ModelLoadError(f"cannot load {path} as a Keras model ({first_line(exc)})") from None


def _load_saved(ref: str, options: SourceOptions) -> LoadedModel:
    path = existing_file(ref, "model file")
    model = _load_file(path, options)
    source = {"ref": str(path), "kind": "keras", "sha256": sha256_file(path)}
    loaded = from_model(model, ref, options, source)
    loaded.name = path.stem
    manifest = read_manifest(path)
    if manifest is not None:  # a manifest beside the file knows the preprocessing
        loaded.spec = _spec(loaded.spec.shape, manifest.input.preprocess)
    return loaded


def _preprocess_for(factory: Any) -> Preprocess:
    """The recipe of a keras.applications model, read from its own ``preprocess_input``.

    Each application module has a ``preprocess_input`` in one of Keras' modes: ``caffe``
    (BGR, ImageNet means on 0..255: VGG, ResNet), ``tf`` ([-1, 1]: MobileNet, Inception,
    ResNetV2), ``torch`` (ImageNet mean/std: DenseNet) or none (0..255 in, the rescaling is
    a layer: EfficientNet, ConvNeXt, MobileNetV3). Rather than keep a table of names, the
    function is probed: black, then each channel at 255, gives its per-channel offset,
    slope and channel order, which are exactly this record's mean, std and order.
    """
    import importlib

    import numpy as np

    preprocess_input = importlib.import_module(factory.__module__).preprocess_input
    probes = np.zeros((4, 1, 1, 3), np.float32)
    for channel in range(3):
        probes[1 + channel, 0, 0, channel] = 255.0
    out = np.asarray(preprocess_input(probes.copy()), np.float64).reshape(4, 3)
    offset, moved = out[0], out[1:] - out[0]  # moved[j, c]: output c when input j is 255
    source = moved.argmax(axis=0) if (moved >= 0).all() else np.abs(moved).argmax(axis=0)
    slope = moved[source, range(3)]  # output change per unit of [0, 1] input
    order = "BGR" if list(source) == [2, 1, 0] else "RGB"
    std = tuple(float(f"{1.0 / v:.6g}") for v in slope)
    mean = tuple(float(f"{-b / v:.6g}") + 0.0 for b, v in zip(offset, slope, strict=True))
    return Preprocess(mean=mean, std=std, channel_order=order)


def _application(ref: str, options: SourceOptions) -> LoadedModel:
    """``keras:MobileNetV2``: an untrained keras.applications model (weights=None)."""
    keras = import_keras()
    name = ref.partition(":")[2]
    factory = getattr(keras.applications, name, None)
    if not name or not callable(factory) or not name[:1].isupper():
        known = [n for n, _ in keras_application_names()]
        close = [n for n in known if n.lower().startswith(name.lower()[:5])] or known[:6]
        raise ModelLoadError(
            f"keras.applications has no model {name!r}", f"e.g. keras:{', keras:'.join(close)}"
        )
    if options.weights:
        raise InputError("keras: models are built untrained", "drop --weights")
    shape = _requested_shape(options) or (1, *DEFAULT_HW, 3)
    kwargs: dict[str, Any] = {
        "weights": None,
        "input_shape": shape[1:],
        "classes": options.num_classes or 1000,
    }
    if "classifier_activation" in inspect.signature(factory).parameters:
        kwargs["classifier_activation"] = None  # logits, like every other source
    try:
        model = factory(**kwargs)
    except ValueError as exc:
        raise ModelLoadError(f"cannot build keras:{name} ({first_line(exc)})") from None
    source = {"ref": ref, "kind": "keras-application", "sha256": None, "weights": None}
    loaded = from_model(model, ref, options, source)
    loaded.spec = _spec(shape, _preprocess_for(factory))
    return loaded


def load(ref: str, options: SourceOptions) -> LoadedModel:
    """Load a ``.keras``/``.h5`` file or build a ``keras:<Application>``."""
    if ref.startswith("keras:"):
        return _application(ref, options)
    return _load_saved(ref, options)
