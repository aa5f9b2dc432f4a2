"""Registry names: every torchvision classifier and deploykit's zoo."""

from __future__ import annotations

from deploykit.registry import create_model, get_entry
from deploykit.sources.base import LoadedModel, SourceOptions
from deploykit.sources.torch_common import load_state_dict, output_classes
from deploykit.spec import InputSpec


def load(ref: str, options: SourceOptions) -> LoadedModel:
    entry = get_entry(ref)
    model = create_model(ref, num_classes=options.num_classes)
    source = {"ref": ref, "kind": f"registry:{entry.origin}", "sha256": None}
    if options.weights:
        source["weights"] = str(options.weights)
        source["sha256"] = load_state_dict(model, options.weights)
    if options.input_shape:
        size = InputSpec(shape=options.input_shape).hw[0]
        spec = InputSpec(shape=options.input_shape, preprocess=entry.input_spec(size).preprocess)
    else:
        spec = entry.input_spec()
    model.eval()
    classes = output_classes(model, spec)
    return LoadedModel("torch", ref, spec, source, model=model, num_classes=classes)
