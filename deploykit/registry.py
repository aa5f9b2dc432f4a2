"""The model registry behind ``deploykit models`` and every model name on the command line.

It sits below :mod:`deploykit.sources` (which loads registry names) and
:mod:`deploykit.zoo` (whose family modules register their factories here, and
whose trained models load through sources): imports run one way. The family
modules are named in ``FAMILY_MODULES`` and imported on first use.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from deploykit.errors import ModelLoadError
from deploykit.spec import InputSpec, Preprocess

# Family modules scanned for @register_model factories, in listing order.
FAMILY_MODULES: tuple[str, ...] = (
    "deploykit.zoo.demo",
    "deploykit.zoo.mobilenet_v1",
    "deploykit.zoo.shufflenet_v1",
    "deploykit.zoo.xception",
    "deploykit.zoo.senet",
    "deploykit.zoo.inception_v4",
)

_ENTRY_ATTR = "__deploykit_model__"

# The classic torchvision classifiers every export, pruning test and benchmark covers.
SEED_ARCHITECTURES: tuple[str, ...] = (
    "alexnet",
    "vgg16",
    "googlenet",
    "inception_v3",
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
    "densenet121",
    "squeezenet1_1",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "shufflenet_v2_x1_0",
    "efficientnet_b0",
)

# torchvision classifiers whose default input is not 224.
_TORCHVISION_SIZES = {"inception_v3": (299, 342)}
# Constructor arguments that make torchvision classifiers export and prune cleanly.
_TORCHVISION_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}


@dataclass(frozen=True)
class ModelEntry:
    """One buildable model.

    Attributes:
        name: registry name, e.g. ``"resnet18"``.
        family: architecture family, e.g. ``"resnet"``.
        origin: ``"deploykit"`` or ``"torchvision"``.
        factory: builds the module; takes ``num_classes`` and family options.
        input_size: default square input size.
        num_classes: default number of classes.
        preprocess: preprocessing at the default input size.
        description: one line for listings.
    """

    name: str
    family: str
    origin: str
    factory: Callable[..., Any]
    input_size: int = 224
    num_classes: int = 1000
    preprocess: Preprocess = field(default_factory=lambda: Preprocess(resize=256, crop=224))
    description: str = ""

    def input_spec(self, size: int | None = None, batch: int = 1) -> InputSpec:
        """The input spec at ``size`` (default: the entry's own size)."""
        size = size or self.input_size
        pre = (
            self.preprocess
            if size == self.input_size
            else replace(self.preprocess, resize=None, crop=None)
        )
        return InputSpec(shape=(batch, 3, size, size), preprocess=pre)


def register_model(
    *,
    family: str,
    input_size: int = 224,
    num_classes: int = 1000,
    preprocess: Preprocess | None = None,
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a factory function as a registered model named after the function.

    The decorator only attaches metadata; the registry finds the factory when it
    scans the family module named in ``FAMILY_MODULES``.
    """

    def mark(factory: Callable[..., Any]) -> Callable[..., Any]:
        entry = ModelEntry(
            name=factory.__name__,
            family=family,
            origin="deploykit",
            factory=factory,
            input_size=input_size,
            num_classes=num_classes,
            preprocess=preprocess or Preprocess(),
            description=description or (inspect.getdoc(factory) or "").split("\n")[0],
        )
        setattr(factory, _ENTRY_ATTR, entry)
        return factory

    return mark


@functools.cache
def _zoo_entries() -> dict[str, ModelEntry]:
    entries: dict[str, ModelEntry] = {}
    for module_name in FAMILY_MODULES:
        module = importlib.import_module(module_name)
        for obj in vars(module).values():
            entry = getattr(obj, _ENTRY_ATTR, None)
            if isinstance(entry, ModelEntry) and entry.factory is obj:
                entries[entry.name] = entry
    return entries


def _torchvision_factory(name: str) -> Callable[..., Any]:
    def build(num_classes: int = 1000, **kwargs: Any) -> Any:
        import torchvision

        options = {**_TORCHVISION_KWARGS.get(name, {}), **kwargs}
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **options)

    return build


@functools.cache
def _torchvision_entries() -> dict[str, ModelEntry]:
    import torchvision

    entries = {}
    for name in torchvision.models.list_models(module=torchvision.models):
        size, resize = _TORCHVISION_SIZES.get(name, (224, 256))
        entries[name] = ModelEntry(
            name=name,
            family=name.rstrip("0123456789_").split("_")[0],
            origin="torchvision",
            factory=_torchvision_factory(name),
            input_size=size,
            preprocess=Preprocess(resize=resize, crop=size),
            description=f"torchvision.models.{name}",
        )
    return entries


def _all_entries() -> dict[str, ModelEntry]:
    return {**_torchvision_entries(), **_zoo_entries()}


def list_models(pattern: str = "*") -> list[ModelEntry]:
    """Registered models whose name matches a shell-style ``pattern``, sorted by name."""
    entries = _all_entries()
    return [entries[n] for n in sorted(entries) if fnmatch.fnmatch(n, pattern)]


def get_entry(name: str) -> ModelEntry:
    """The entry called ``name``.

    Raises:
        ModelLoadError: for an unknown name, suggesting close ones.
    """
    entries = _all_entries()
    if name in entries:
        return entries[name]
    close = difflib.get_close_matches(name, entries, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "run `deploykit models` to list names"
    raise ModelLoadError(f"unknown model {name!r}", hint)


def create_model(name: str, num_classes: int | None = None, **kwargs: Any) -> Any:
    """Build the registered model ``name`` with random weights, in eval mode."""
    entry = get_entry(name)
    model = entry.factory(num_classes=num_classes or entry.num_classes, **kwargs)
    return model.eval()
