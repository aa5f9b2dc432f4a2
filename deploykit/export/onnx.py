"""ONNX export: torch (dynamo exporter, TorchScript fallback) or a pass-through ONNX file.

FP32 graphs are simplified with onnxslim, checked with ``onnx.checker`` and
shape inference, and saved as one file. Reduced precisions are converted from
the FP32 graph by :mod:`deploykit.export.onnx_precision`.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import warnings
from pathlib import Path
from typing import Any

from deploykit.errors import DeployKitError, InputError, first_line
from deploykit.export.api import BuildInfo, ExportRequest
from deploykit.fileio import temp_dir
from deploykit.sources import LoadedModel

TWO_GB = 2**31
OUTPUT_NAME = "logits"
# torch.onnx's dynamo exporter writes opset 18 or newer; older opsets need TorchScript.
DYNAMO_MIN_OPSET = 18


def supported_opsets(kind: str) -> tuple[int, int]:
    """The lowest and highest ONNX opset the exporter for a source ``kind`` can write."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if kind == "keras":
        from tf2onnx import constants

        return 7, min(newest, max(constants.OPSET_TO_IR_VERSION))
    try:
        from torch.onnx import _constants

        return _constants.ONNX_MIN_OPSET, min(newest, _constants.ONNX_MAX_OPSET)
    except (ImportError, AttributeError):  # private module: keep working if it moves
        return 7, newest


def check_opset(kind: str, opset: int) -> None:
    """Refuse an opset the exporter for ``kind`` cannot write, in one line."""
    low, high = supported_opsets(kind)
    if not low <= opset <= high:
        raise InputError(
            f"--opset {opset} is not supported by the {kind} ONNX exporter",
            f"use {low}..{high}",
        )


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
        if request.opset < DYNAMO_MIN_OPSET:  # it would silently write opset 18 instead
            raise ValueError(f"writes opset {DYNAMO_MIN_OPSET} or newer")
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
        return {"name": "torch.onnx.export", "mode": "dynamo"}
    except OSError:  # a full disk is not an export failure: no fallback
        raise
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
    except OSError:
        raise
    except Exception as exc:
        errors["torchscript"] = first_line(exc)
        hint = "check that the model traces with torch.export.export"
        if request.opset < DYNAMO_MIN_OPSET:
            hint = f"opset {request.opset} could not be written: try --opset {DYNAMO_MIN_OPSET}"
        raise InputError(
            f"torch could not export {loaded.name} to ONNX (dynamo: {errors['dynamo']}; "
            f"torchscript: {errors['torchscript']})",
            hint,
        ) from None
    return {"name": "torch.onnx.export", "mode": "torchscript", "dynamo_error": errors["dynamo"]}


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
        return {"name": "passthrough", **copy_self_contained(loaded.path, dest)}
    check_opset(loaded.kind, request.opset)
    if loaded.kind == "keras":
        from deploykit.export.keras_onnx import keras_to_onnx

        exporter = keras_to_onnx(loaded, request, dest)
    else:
        exporter = _torch_export(loaded.model, loaded, request, dest)
    try:
        exporter.update(_finish(dest, request.simplify))
    except (DeployKitError, OSError):
        raise
    except Exception as exc:
        raise InputError(f"the exported ONNX graph is invalid ({first_line(exc)})") from None
    # The manifest records the opset of the file written, not the one asked for.
    exporter["opset"] = _opset(dest)
    if exporter["opset"] != request.opset:
        raise InputError(
            f"the exporter wrote opset {exporter['opset']} when --opset {request.opset} was asked",
            f"use --opset {exporter['opset']}",
        )
    return exporter


def _opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def copy_self_contained(source: Path, dest: Path) -> dict[str, Any]:
    """Copy an ONNX file to ``dest`` as one file, its external data (if any) inlined.

    A plain copy of a model whose weights live in a file beside it would point at
    a file that is not beside the copy.
    """
    import onnx

    # External-data locations were checked to stay in the model's folder when it was loaded.
    header = onnx.load(str(source), load_external_data=False)
    external = any(
        onnx.external_data_helper.uses_external_data(t)
        for t in onnx.external_data_helper._get_all_tensors(header)
    )
    if not external:
        shutil.copyfile(source, dest)
        return {"opset": _opset(dest)}
    model = onnx.load(str(source), load_external_data=True)
    if model.ByteSize() >= TWO_GB:
        raise InputError(
            f"{source} with its external data is over the 2 GB single-file limit",
            "prune or quantize the model first",
        )
    onnx.external_data_helper.convert_model_from_external_data(model)
    onnx.save(model, str(dest))
    return {"opset": _opset(dest), "external_data": "inlined"}


def build(loaded: LoadedModel, request: ExportRequest, dest: Path) -> BuildInfo:
    """Build the ONNX artifact at ``dest`` in the requested precision."""
    if request.precision == "fp32":
        return BuildInfo(exporter=export_fp32(loaded, request, dest))
    from deploykit.export import onnx_precision

    # A temporary folder, not atomic_path: the FP32 graph is scratch and must not be kept.
    with temp_dir(dest.parent, "fp32") as work:
        fp32 = Path(work) / "fp32.onnx"
        exporter = export_fp32(loaded, request, fp32)
        info = onnx_precision.convert(loaded, request, fp32, dest)
    info.exporter = {**exporter, **info.exporter}
    return info
