"""ONNX export: torch (dynamo exporter, TorchScript fallback) or a pass-through ONNX file.

FP32 graphs are simplified with onnxslim, checked with ``onnx.checker`` and
shape inference, and saved as one file. Reduced precisions are converted from
the FP32 graph by :mod:`deploykit.export.onnx_precision`.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from deploykit.errors import DeployKitError, InputError, first_line
from deploykit.export.api import BuildInfo, ExportRequest
from deploykit.sources import LoadedModel

TWO_GB = 2**31
OUTPUT_NAME = "logits"


def _torch_export(module: Any, loaded: LoadedModel, request: ExportRequest, dest: Path) -> dict:
    """Write ``module`` to ``dest`` with the dynamo exporter, or TorchScript if that fails."""
    import torch

    spec = loaded.spec
    # A batch of 2 keeps the exporter from specialising the dynamic axis to 1.
    batch = 2 if request.dynamic_batch else spec.shape[0]
    example = (torch.zeros(spec.with_batch(batch).nchw),)
    names = {"input_names": [spec.name], "output_names": [OUTPUT_NAME]}
    quiet = contextlib.redirect_stdout(io.StringIO())
    errors = {}
    try:
        dynamic = (
            ({0: torch.export.Dim("batch", min=1, max=4096)},) if request.dynamic_batch else None
        )
        with quiet, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                example,
                dynamo=True,
                opset_version=request.opset,
                dynamic_shapes=dynamic,
                optimize=True,
                **names,
            )
            program.save(str(dest), external_data=False)
        return {"name": "torch.onnx.export", "mode": "dynamo", "opset": request.opset}
    except Exception as exc:  # the exporter fails in many ways; TorchScript is the fallback
        errors["dynamo"] = first_line(exc)
    try:
        axes = (
            {spec.name: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if request.dynamic_batch else None
        )
        with quiet, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                example,
                str(dest),
                dynamo=False,
                opset_version=request.opset,
                dynamic_axes=axes,
                do_constant_folding=True,
                **names,
            )
    except Exception as exc:
        errors["torchscript"] = first_line(exc)
        raise InputError(
            f"torch could not export {loaded.name} to ONNX (dynamo: {errors['dynamo']}; "
            f"torchscript: {errors['torchscript']})",
            "check that the model traces with torch.export.export",
        ) from None
    return {
        "name": "torch.onnx.export",
        "mode": "torchscript",
        "opset": request.opset,
        "dynamo_error": errors["dynamo"],
    }


def _finish(path: Path, simplify: bool) -> dict[str, Any]:
    """Simplify, check, infer shapes and save ``path`` as a single file; return node counts."""
    import onnx

    model = onnx.load(str(path))
    info: dict[str, Any] = {"nodes_exported": len(model.graph.node)}
    if simplify:
        try:
            import onnxslim

            model = onnxslim.slim(model)
            info["simplifier"] = f"onnxslim {onnxslim.__version__}"
        except Exception as exc:  # a simplifier failure is not fatal: keep the unsimplified graph
            info["simplifier_error"] = first_line(exc)
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    if model.ByteSize() >= TWO_GB:
        raise InputError(
            f"the ONNX graph is {model.ByteSize() / 2**30:.1f} GB, over the 2 GB single-file limit",
            "prune or quantize the model first",
        )
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    info["nodes"] = len(model.graph.node)
    return info


def export_fp32(loaded: LoadedModel, request: ExportRequest, dest: Path) -> dict[str, Any]:
    """Write the FP32 ONNX graph of ``loaded`` to ``dest``; return exporter facts."""
    if loaded.kind == "onnx":
        shutil.copyfile(loaded.path, dest)
        return {"name": "passthrough", "opset": _opset(dest)}
    if loaded.kind == "keras":
        from deploykit.export.keras_onnx import keras_to_onnx

        exporter = keras_to_onnx(loaded, request, dest)
    else:
        exporter = _torch_export(loaded.model, loaded, request, dest)
    try:
        exporter.update(_finish(dest, request.simplify))
    except DeployKitError:
        raise
    except Exception as exc:
        raise InputError(f"the exported ONNX graph is invalid ({first_line(exc)})") from None
    return exporter


def _opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def build(loaded: LoadedModel, request: ExportRequest, dest: Path) -> BuildInfo:
    """Build the ONNX artifact at ``dest`` in the requested precision."""
    if request.precision == "fp32":
        return BuildInfo(exporter=export_fp32(loaded, request, dest))
    from deploykit.export import onnx_precision

    # A temporary folder, not atomic_path: the FP32 graph is scratch and must not be kept.
    with tempfile.TemporaryDirectory(prefix=".deploykit-", dir=dest.parent) as work:
        fp32 = Path(work) / "fp32.onnx"
        exporter = export_fp32(loaded, request, fp32)
        info = onnx_precision.convert(loaded, request, fp32, dest)
    info.exporter = {**exporter, **info.exporter}
    return info
