"""Whole-model pickles (``torch.save(model)``): loaded only with ``--trust-pickle``."""

from __future__ import annotations

from deploykit.errors import ModelLoadError, first_line
from deploykit.fileio import existing_file, sha256_file
from deploykit.sources.base import LoadedModel, SourceOptions
from deploykit.sources.torch_common import output_classes
from deploykit.spec import ASSUMED_PREPROCESS, InputSpec

DEFAULT_SHAPE = (1, 3, 224, 224)


def load(ref: str, options: SourceOptions) -> LoadedModel:
    import torch

    path = existing_file(ref, "checkpoint")
    if not options.trust_pickle:
        raise ModelLoadError(
            f"{path} is a pickle checkpoint, which can run code when loaded",
            "pass the architecture name with --weights FILE for a state_dict, "
            "or --trust-pickle if you trust the file",
        )
    try:
        model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # unpickling fails in many ways
        raise ModelLoadError(f"cannot load {path} ({first_line(exc)})") from None
    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(
            f"{path} holds a {type(model).__name__}, not a whole model",
            "for a state_dict pass the architecture name with --weights FILE",
        )
    spec = InputSpec(shape=options.input_shape or DEFAULT_SHAPE, preprocess=ASSUMED_PREPROCESS)
    model.eval()
    classes = output_classes(model, spec)
    source = {"ref": str(path), "kind": "pickle", "sha256": sha256_file(path), "trusted": True}
    return LoadedModel(
        "torch", path.stem, spec, source, model=model, path=path, num_classes=classes
    )
