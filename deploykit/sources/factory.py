"""``module:factory`` references: a function in the user's own code that builds a model."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

from deploykit.errors import ModelLoadError
from deploykit.sources.base import LoadedModel, SourceOptions
from deploykit.sources.torch_common import load_state_dict, output_classes
from deploykit.spec import ASSUMED_PREPROCESS, InputSpec

DEFAULT_SHAPE = (1, 3, 224, 224)


def resolve(ref: str) -> object:
    """Import ``module:attr`` from the user's code (the current directory is importable)."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ModelLoadError(f"cannot read factory {ref!r}", "write it as package.module:function")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"cannot import {module_name!r} ({exc})", "check the module path"
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ModelLoadError(f"{module_name!r} has no attribute {attr!r}") from None


def call_factory(factory: object, ref: str, num_classes: int | None) -> object:
    """Call ``factory``, passing ``num_classes`` when given and accepted."""
    if not callable(factory):
        raise ModelLoadError(f"{ref} is not callable", "point at a function that returns a model")
    kwargs = {}
    if num_classes is not None:
        params = inspect.signature(factory).parameters
        if "num_classes" not in params:
            raise ModelLoadError(f"{ref} takes no num_classes argument", "drop --num-classes")
        kwargs["num_classes"] = num_classes
    return factory(**kwargs)


def load(ref: str, options: SourceOptions) -> LoadedModel:
    import torch

    model = call_factory(resolve(ref), ref, options.num_classes)
    if not isinstance(model, torch.nn.Module):
        if type(model).__module__.startswith("keras"):
            from deploykit.sources import keras

            return keras.from_model(model, ref, options)
        raise ModelLoadError(
            f"{ref} returned {type(model).__name__}, not a torch.nn.Module or Keras model"
        )
    source = {"ref": ref, "kind": "factory", "sha256": None}
    if options.weights:
        source["weights"] = str(options.weights)
        source["sha256"] = load_state_dict(model, options.weights)
    spec = InputSpec(shape=options.input_shape or DEFAULT_SHAPE, preprocess=ASSUMED_PREPROCESS)
    model.eval()
    classes = output_classes(model, spec)
    name = ref.partition(":")[2]
    return LoadedModel("torch", name, spec, source, model=model, num_classes=classes)
