"""The loaded-model record and the dispatcher over reference forms."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deploykit.errors import InputError, ModelLoadError
from deploykit.options import check_options, option
from deploykit.spec import ASSUMED_PREPROCESS, InputSpec, parse_shape

# File format (from the capability table) -> module whose ``load(ref, options)`` builds a LoadedModel.
_FILE_LOADERS = {
    "onnx": "deploykit.sources.onnx",
    "pt2": "deploykit.sources.pt2",
    "checkpoint": "deploykit.sources.checkpoint",
    "keras": "deploykit.sources.keras",
}


@dataclass(frozen=True)
class SourceOptions:
    """How to build or load a model.

    Attributes:
        num_classes: classifier width for registry names and factories (default: the model's).
        weights: a state-dict file loaded with ``weights_only=True``.
        input_shape: overrides the default input shape (NCHW, or NHWC for Keras).
        trust_pickle: allow unpickling whole-model checkpoints (runs code from the file).
        trust_code: allow Keras Lambda layers and custom objects (runs code from the file).
        mean, std: per-channel normalisation in pixel units of ``scale`` (default: what the
            model records, else ImageNet's, said in one line).
        scale: pixels run 0..scale before ``mean``/``std`` (1: [0, 1]; 255: 8-bit values).
        channels: channel order the model expects, RGB or BGR.
    """

    num_classes: int | None = option(None, "Classifier width (default: the model's).", min=1)
    weights: Path | None = option(None, "state_dict file, loaded with weights_only=True.")
    input_shape: tuple[int, ...] | None = option(
        None, "Input shape, e.g. 1x3x224x224 (NCHW) or 1x96x96x3 (NHWC).", parse=parse_shape, min=1
    )
    trust_pickle: bool = option(
        False, "Allow unpickling a whole-model .pt or pickled .pt2 entries (runs its code)."
    )
    trust_code: bool = option(
        False, "Allow Keras Lambda layers and custom objects (runs code from the file)."
    )
    mean: tuple[float, ...] | None = option(
        None, "Per-channel mean, in units of --scale (default: the model's own, else ImageNet's)."
    )
    std: tuple[float, ...] | None = option(
        None,
        "Per-channel std, in units of --scale (default: the model's own, else ImageNet's).",
        min=0,
        exclusive=True,
    )
    scale: float | None = option(
        None,
        "Pixel range --mean and --std are given in: 1 ([0, 1]) or 255 (8-bit values).",
        min=0,
        exclusive=True,
    )
    channels: str | None = option(
        None,
        "Channel order the model expects (default: the model's own, else RGB).",
        choices=("RGB", "BGR"),
    )

    def __post_init__(self) -> None:
        check_options(self)


@dataclass
class LoadedModel:
    """A model ready to export or run.

    Attributes:
        kind: ``"torch"`` (``model`` is an ``nn.Module`` in eval mode), ``"onnx"``
            (``path`` is the file), or ``"keras"`` (``model`` is a Keras model).
        name: a short name for artifacts, e.g. ``"resnet18"``.
        spec: the input spec.
        source: provenance for manifests: reference, kind, sha256 of what was read.
        model: the in-memory model, when there is one.
        path: the file the model came from, when there is one.
        num_classes: the number of output classes, when known.
    """

    kind: str
    name: str
    spec: InputSpec
    source: dict[str, Any]
    model: Any = None
    path: Path | None = None
    num_classes: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def require_granted_trust(
    options: SourceOptions, granted: SourceOptions | None, where: str
) -> None:
    """Refuse trust a file asks for that the command line did not grant.

    A suite (or any file) may mark an item ``trust_pickle``/``trust_code``, but that
    only counts when the user also passed the flag: a file cannot grant itself trust.

    Args:
        options: the item's options, as the file gives them.
        granted: the command line's options (None: nothing granted).
        where: the file and key, for the message.
    """
    for flag in ("trust_pickle", "trust_code"):
        if getattr(options, flag) and not (granted is not None and getattr(granted, flag)):
            option = "--" + flag.replace("_", "-")
            raise InputError(
                f"{where}: {flag} is set, but a file cannot grant trust on its own",
                f"pass {option} on the command line too if you trust the file",
            )


def _loader_for(ref: str) -> str:
    from deploykit.targets import suffix_formats

    fmt = "keras" if ref.startswith("keras:") else suffix_formats().get(Path(ref).suffix.lower())
    if fmt in _FILE_LOADERS:
        return _FILE_LOADERS[fmt]
    if ":" in ref and not Path(ref).exists():
        return "deploykit.sources.factory"
    if Path(ref).exists():
        raise InputError(
            f"cannot tell what kind of model {ref} is",
            "give a .pt2, .onnx, .keras or .pt file, a registry name, or module:factory",
        )
    return "deploykit.sources.registry"


def load_model(ref: str, options: SourceOptions | None = None) -> LoadedModel:
    """Load the model a reference names.

    Args:
        ref: registry name, ``module:factory``, or a ``.pt2``/``.onnx``/``.pt``/``.keras`` path.
        options: build and trust options; defaults when None.

    Raises:
        DeployKitError: with a one-line message for anything the user can fix.
    """
    if not ref:
        raise ModelLoadError("no model given", "name a model, e.g. resnet18 or out/model.onnx")
    options = options or SourceOptions()
    loaded = importlib.import_module(_loader_for(ref)).load(ref, options)
    return with_preprocessing(loaded, options)


def with_preprocessing(loaded: LoadedModel, options: SourceOptions) -> LoadedModel:
    """Lay ``--mean``/``--std``/``--scale``/``--channels`` over the model's preprocessing.

    Without them, a model whose loader had to assume ImageNet's recipe gets
    ``details["assumed"]``: the one line the CLI prints about it.
    """
    given = (options.mean, options.std, options.scale, options.channels)
    pre = loaded.spec.preprocess
    if all(v is None for v in given):
        if pre is ASSUMED_PREPROCESS:
            loaded.details["assumed"] = (
                f"{loaded.name} records no preprocessing: assumed RGB in [0, 1] normalised with "
                f"ImageNet mean {list(pre.mean)} and std {list(pre.std)} (set --mean, --std, "
                "--scale, --channels if it was trained otherwise)"
            )
        return loaded
    channels = loaded.spec.channels
    for flag, values in (("--mean", options.mean), ("--std", options.std)):
        if values is not None and len(values) not in (1, channels):
            raise InputError(
                f"{flag} has {len(values)} values; {loaded.name} has {channels} channels",
                f"give 1 or {channels} comma-separated values",
            )
    spec = replace(loaded.spec, preprocess=pre.override(*given))
    loaded.spec = spec
    loaded.details.pop("assumed", None)
    return loaded
