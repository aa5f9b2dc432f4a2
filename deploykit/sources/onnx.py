"""Existing ``.onnx`` files: checked, then passed through."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from deploykit.errors import ModelLoadError, first_line
from deploykit.fileio import existing_file, sha256_file
from deploykit.manifest import read_manifest
from deploykit.sources.base import LoadedModel, SourceOptions
from deploykit.spec import ASSUMED_PREPROCESS, InputSpec, spec_for_shape

_SUPPORTED = "deploykit supports one float32 image input, N x C x H x W or N x H x W x C"
MAX_SIDE = 16384
MAX_BATCH = 4096
MAX_SAMPLE_ELEMENTS = 2**26


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
    dims = _image_input(model).type.tensor_type.shape.dim
    return tuple(d.dim_value if d.dim_value > 0 else 1 for d in dims)


def _image_input(model):
    initializers = {i.name for i in model.graph.initializer}
    return next(i for i in model.graph.input if i.name not in initializers)


def check_image_input(model, path: Path, shape_given: bool) -> None:
    """Refuse, in one line, any graph but one float32 image input of rank 4 and sane size.

    Args:
        model: the ONNX model.
        path: its file, for messages.
        shape_given: ``--input-shape`` was passed, so symbolic sizes are fine.
    """
    import onnx

    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs[:4]) or "none"
        raise ModelLoadError(f"{path} has {len(inputs)} inputs ({names})", _SUPPORTED)
    tensor = inputs[0].type.tensor_type
    name = inputs[0].name
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        dtype = onnx.TensorProto.DataType.Name(tensor.elem_type).lower()
        raise ModelLoadError(f"{path}: input {name!r} is {dtype}", _SUPPORTED)
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    shown = "x".join("?" if d is None else str(d) for d in dims)
    if len(dims) != 4:
        raise ModelLoadError(f"{path}: input {name!r} has rank {len(dims)} ({shown})", _SUPPORTED)
    sizes = [d for d in dims[1:] if d is not None]
    elements = 1
    for d in sizes:
        elements *= d
    if (
        (dims[0] or 1) > MAX_BATCH
        or elements > MAX_SAMPLE_ELEMENTS
        or any(d > MAX_SIDE for d in sizes)
    ):
        raise ModelLoadError(
            f"{path}: input {name!r} declares shape {shown}, too large for an image classifier",
            f"at most {MAX_SIDE} pixels a side and batch {MAX_BATCH}",
        )
    if None in dims[1:] and not shape_given:
        raise ModelLoadError(
            f"{path}: input {name!r} has symbolic sizes ({shown})",
            "pass --input-shape, e.g. 1x3x224x224",
        )


def _check_manifest_shape(model, spec: InputSpec, path: Path) -> None:
    """The manifest's input shape must be the graph's (batch and symbolic sizes aside)."""
    dims = _image_input(model).type.tensor_type.shape.dim
    graph = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if any(g is not None and g != s for g, s in zip(graph[1:], spec.shape[1:], strict=True)):
        shown = "x".join("?" if d is None else str(d) for d in graph)
        raise ModelLoadError(
            f"{path}: its manifest says {spec.layout} {'x'.join(map(str, spec.shape))}, "
            f"but the graph's input is {shown}",
            "fix the manifest's input layout and shape, or re-export the artifact",
        )


def load(ref: str, options: SourceOptions) -> LoadedModel:
    path = existing_file(ref, "model file")
    model = check_onnx(path)
    check_image_input(model, path, shape_given=options.input_shape is not None)
    manifest = read_manifest(path)
    if manifest is not None:
        spec = manifest.input
        num_classes = manifest.num_classes
        _check_manifest_shape(model, spec, path)
    else:
        shape = options.input_shape or graph_input_shape(model)
        spec = spec_for_shape(shape, ASSUMED_PREPROCESS)
        num_classes = None
    if options.input_shape and manifest is not None:
        spec = InputSpec(shape=options.input_shape, layout=spec.layout, preprocess=spec.preprocess)
    batch = _image_input(model).type.tensor_type.shape.dim[0]
    if batch.HasField("dim_value") and batch.dim_value > 0:  # a fixed batch axis
        spec = replace(spec, shape=(batch.dim_value, *spec.shape[1:]), dynamic_batch=False)
    source = {"ref": str(path), "kind": "onnx", "sha256": sha256_file(path)}
    return LoadedModel("onnx", path.stem, spec, source, path=path, num_classes=num_classes)
