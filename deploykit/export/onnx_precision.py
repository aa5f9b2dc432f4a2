"""Reduced-precision ONNX artifacts from an FP32 graph: FP16, INT8 (Q/DQ) and dynamic INT8.

Called by :mod:`deploykit.export.onnx` with the FP32 graph already written:

- ``fp16``: an FP16 graph whose inputs and outputs stay FP32, so every runner
  is fed the same data.
- ``int8``: static Q/DQ quantization calibrated on a calibration set
  (:mod:`deploykit.export.quantize`), optionally held to an accuracy budget
  (:mod:`deploykit.export.accuracy_budget`).
- ``int8-dynamic``: INT8 weights, activations quantized at run time; no calibration.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.errors import CalibrationError, InputError
from deploykit.export.api import BuildInfo, ExportRequest
from deploykit.fileio import temp_dir
from deploykit.sources import LoadedModel
from deploykit.targets import TARGETS

WEIGHT_BITS = {"int8": 8, "int7": 7}


def _onnx_options(request: ExportRequest) -> dict:
    """The ONNX target's Q/DQ options; other targets (TensorRT) build with their defaults."""
    return TARGETS["onnx"].resolve_options(request.options if request.target == "onnx" else {})


def activation_type(request: ExportRequest) -> str:
    """The ``--option activations=`` choice (``uint8`` is for CPU runtimes only)."""
    return _onnx_options(request)["activations"]


def weight_bits(request: ExportRequest) -> int:
    """The ``--option weights=`` choice as a bit count (7 for CPUs without VNNI)."""
    return WEIGHT_BITS[_onnx_options(request)["weights"]]


def placement(request: ExportRequest) -> str:
    """The ``--option placement=`` choice: where Q/DQ pairs go (``ort`` or ``trt``)."""
    return _onnx_options(request)["placement"]


def convert(loaded: LoadedModel, request: ExportRequest, fp32_path: Path, dest: Path) -> BuildInfo:
    """Write ``fp32_path`` converted to ``request.precision`` at ``dest``.

    Args:
        loaded: the source model (its spec prepares calibration and eval data).
        request: precision, calibration set and method, budget, ``keep_fp32``.
        fp32_path: the FP32 ONNX graph.
        dest: where the converted graph goes.
    """
    _check_request(request)
    if request.precision == "fp16":
        return to_fp16(fp32_path, dest, request.keep_fp32)
    with temp_dir(label="quant") as work:
        return _quantize(loaded, request, fp32_path, dest, Path(work))


def _check_request(request: ExportRequest) -> None:
    """Refuse option combinations before any work is done."""
    from deploykit.calibration import check_method

    check_method(request.calib_method)
    if request.precision == "int8" and request.calib is None:
        raise CalibrationError(
            "INT8 export needs a calibration set",
            "make one with `deploykit calibrate digits -o calib.npz` and pass --calib calib.npz",
        )
    if request.max_accuracy_drop is not None and request.precision != "int8":
        raise InputError("--max-accuracy-drop applies to --precision int8 only")
    if request.max_accuracy_drop is not None and request.max_accuracy_drop < 0:
        raise InputError(f"--max-accuracy-drop must be >= 0, got {request.max_accuracy_drop}")


def to_fp16(fp32_path: Path, dest: Path, keep_fp32: tuple[str, ...] = ()) -> BuildInfo:
    """An FP16 graph with FP32 inputs/outputs; ``keep_fp32`` op types or node names stay FP32."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.load(str(fp32_path))
    ops = {n.op_type for n in model.graph.node}
    op_block = [k for k in keep_fp32 if k in ops]
    node_block = [k for k in keep_fp32 if k not in ops]
    names = {n.name for n in model.graph.node}
    unknown = [k for k in node_block if k not in names]
    if unknown:
        raise InputError(f"--keep-fp32 {unknown[0]!r} names no node or op type in the graph")
    half = convert_float_to_float16(
        model,
        keep_io_types=True,
        op_block_list=[*DEFAULT_OP_BLOCK_LIST, *op_block],
        node_block_list=node_block or None,
    )
    _sort_topologically(half.graph)
    onnx.checker.check_model(half)
    onnx.save(half, str(dest))
    fp16 = sum(1 for i in half.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16)
    return BuildInfo(
        exporter={"precision_tool": "onnxruntime.transformers.float16"},
        details={
            "keep_io_types": True,
            "fp16_initializers": fp16,
            "fp32_ops": op_block + node_block,
        },
    )


def _sort_topologically(graph: Any) -> None:
    """Order ``graph``'s nodes so each comes after its inputs' producers.

    The FP16 converter appends the Casts it adds at the graph's inputs at the
    end of the node list; ONNX Runtime does not mind, ``onnx.checker`` (and so
    every other ONNX consumer) does.
    """
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        runnable = [n for n in pending if all(i in ready for i in n.input)]
        if not runnable:
            raise InputError("the FP16 graph has a cycle or a dangling input")
        for node in runnable:
            ordered.append(node)
            ready.update(node.output)
        done = {id(n) for n in runnable}
        pending = [n for n in pending if id(n) not in done]
    del graph.node[:]
    graph.node.extend(ordered)


def _quantize(
    loaded: LoadedModel, request: ExportRequest, fp32_path: Path, dest: Path, work: Path
) -> BuildInfo:
    import onnx

    from deploykit.export import quantize as q

    pre = q.preprocess(fp32_path, work / "pre.onnx")
    graph = onnx.load(str(pre))
    kept = q.resolve_keep_fp32(graph, request.keep_fp32)
    details: dict[str, Any] = {"keep_fp32": kept} if kept else {}
    exporter: dict[str, Any] = {"quantizer": "onnxruntime.quantization", "pre_process": True}
    if request.precision == "int8-dynamic":
        q.quantize_dynamic_int8(pre, dest, kept)
        exporter["mode"] = "dynamic"
        return BuildInfo(exporter=exporter, details={**details, **q.qdq_summary(dest)})

    from deploykit.calibration import load_calibration

    activations = activation_type(request)
    bits = weight_bits(request)
    where = placement(request)
    calib = load_calibration(request.calib, loaded.spec)
    if loaded.spec.layout == "NHWC":  # the graph itself is fed, not a runner that transposes
        calib.x = np.ascontiguousarray(calib.x.transpose(0, 2, 3, 1))
    cache = work / "ranges.json"
    runs = itertools.count()

    def quantize(exclude: list[str]) -> Path:
        # The first call calibrates and fills the cache; later ones reuse the ranges.
        path = work / f"int8-{next(runs)}.onnx"
        return q.quantize_static_qdq(
            pre, path, calib, request.calib_method, exclude, cache, activations, bits, where
        )

    exporter.update(
        {
            "mode": "static",
            "format": "QDQ",
            "activations": "int8 symmetric" if activations == "int8" else "uint8 asymmetric",
            "weights": f"int{bits} symmetric per-channel"
            + (" (7-bit range: no u8 x s8 saturation without VNNI)" if bits == 7 else ""),
            "placement": where,
        }
    )
    if request.max_accuracy_drop is None:
        chosen = quantize(kept)
    else:
        from deploykit.export import accuracy_budget as budget

        result = budget.fit_budget(
            pre,
            quantize,
            q.weighted_nodes(graph),
            budget.load_eval_set(request.eval_data, loaded.spec),
            request.max_accuracy_drop,
            kept,
        )
        chosen = result.path
        details["accuracy_budget"] = result.record
        details["fp32_fallback"] = result.record["fp32_fallback"]
    shutil.copyfile(chosen, dest)
    calibration = {**calib.info, "method": request.calib_method}
    return BuildInfo(
        exporter=exporter, calibration=calibration, details={**details, **q.qdq_summary(dest)}
    )
