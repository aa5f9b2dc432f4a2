"""Existing ``.onnx`` files: checked, then passed through."""

from __future__ import annotations

from pathlib import Path

from deploykit.errors import ModelLoadError, first_line
from deploykit.fileio import existing_file, sha256_file
from deploykit.manifest import read_manifest
from deploykit.sources.base import LoadedModel, SourceOptions
from deploykit.spec import ASSUMED_PREPROCESS, InputSpec, spec_for_shape


def check_onnx(path: Path):
    """Load and check an ONNX file, refusing external data outside its folder."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
        for tensor in onnx.external_data_helper._get_all_tensors(model):
            if onnx.external_data_helper.uses_external_data(tensor):
                location = next(e.value for e in tensor.external_data if e.key == "location")
                target = (path.parent / location).resolve()
                if path.parent.resolve() not in target.parents:
                    raise ModelLoadError(
                        f"{path} points at external data outside its folder ({location})",
                        "keep weight files beside the model",
                    )
        onnx.checker.check_model(str(path))
    except ModelLoadError:
        raise
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError...
        first = first_line(exc)
        raise ModelLoadError(
            f"{path} is not a valid ONNX model ({first})", "re-export it or check the file"
        ) from None
    return model


def graph_input_shape(model) -> tuple[int, ...]:
    """The first graph input's shape, with symbolic axes read as 1."""
    initializers = {i.name for i in model.graph.initializer}
    graph_input = next(i for i in model.graph.input if i.name not in initializers)
    dims = graph_input.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.dim_value > 0 else 1 for d in dims)


def load(ref: str, options: SourceOptions) -> LoadedModel:
    path = existing_file(ref, "model file")
    model = check_onnx(path)
    manifest = read_manifest(path)
    if manifest is not None:
        spec = manifest.input
        num_classes = manifest.num_classes
    else:
        shape = options.input_shape or graph_input_shape(model)
        spec = spec_for_shape(shape, ASSUMED_PREPROCESS)
        num_classes = None
    if options.input_shape and manifest is not None:
        spec = InputSpec(shape=options.input_shape, layout=spec.layout, preprocess=spec.preprocess)
    source = {"ref": str(path), "kind": "onnx", "sha256": sha256_file(path)}
    return LoadedModel("onnx", path.stem, spec, source, path=path, num_classes=num_classes)
