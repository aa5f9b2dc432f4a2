"""INT8 ONNX models with ONNX Runtime's quantizer: static Q/DQ and dynamic.

Static quantization writes a Q/DQ graph (QuantizeLinear/DequantizeLinear pairs
around FP32 ops) with symmetric INT8 activations and per-channel symmetric INT8
weights: the explicit-quantization form that ONNX Runtime, OpenVINO and
TensorRT 10/11 all execute. The graph is first run through ORT's
``quant_pre_process`` (shape inference and graph optimisation, e.g. folding
BatchNorm into Conv) as ORT recommends.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.calibration import CalibrationSet, check_method
from deploykit.errors import InputError

# Ops whose weights are quantized: the layers a user (or the budget) may keep in FP32.
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
CALIB_BATCH = 16


@contextlib.contextmanager
def quiet_quantizer() -> Iterator[None]:
    """Silence ORT's quantizer, which logs advice through the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def preprocess(fp32: Path, dest: Path) -> Path:
    """ORT's recommended pre-processing (shape inference, optimisation) of ``fp32`` into ``dest``."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with quiet_quantizer():
        quant_pre_process(str(fp32), str(dest))
    return dest


def _reader(calib: CalibrationSet, input_name: str):
    """An ORT ``CalibrationDataReader`` over the calibration images."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(calib.batches(CALIB_BATCH))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    return _Reader()


def _method(name: str):
    from onnxruntime.quantization import CalibrationMethod

    check_method(name)
    return {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[name]


def weighted_nodes(model: Any) -> list[dict[str, str]]:
    """Nodes with a weight initializer, in graph order: ``{"node", "op", "layer"}``.

    ``layer`` is the weight's name without ``.weight`` (e.g. ``stages.0.conv2``),
    which is what a user recognises; node names come from the exporter.
    """
    initializers = {i.name for i in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        if node.op_type not in WEIGHTED_OPS:
            continue
        weight = next((i for i in node.input[1:2] if i in initializers), None)
        if weight is None:
            continue
        layer = weight.removesuffix(".weight").removesuffix("_quantized")
        nodes.append({"node": node.name, "op": node.op_type, "layer": layer})
    return nodes


def resolve_keep_fp32(model: Any, names: Iterable[str]) -> list[str]:
    """Node names to exclude from quantization for ``--keep-fp32`` items.

    Each item is an op type (``Gemm``), a node name, or a layer name (the
    weight's prefix, e.g. ``fc``).

    Raises:
        InputError: for an item that matches nothing in the graph.
    """
    layers = {n["layer"]: n["node"] for n in weighted_nodes(model)}
    by_name = {n.name for n in model.graph.node}
    excluded: list[str] = []
    for item in names:
        matches = [n.name for n in model.graph.node if n.op_type == item]
        if item in by_name:
            matches = [item]
        elif item in layers:
            matches = [layers[item]]
        if not matches:
            examples = ", ".join(list(layers)[:6])
            raise InputError(
                f"--keep-fp32 {item!r} names no node, layer or op type in the graph",
                f"give an op type (Conv, Gemm) or a layer such as {examples}",
            )
        excluded += [m for m in matches if m not in excluded]
    return excluded


def quantize_static_qdq(
    pre: Path,
    dest: Path,
    calib: CalibrationSet | None,
    method: str,
    exclude: Iterable[str] = (),
    cache: Path | None = None,
    activations: str = "int8",
    weight_bits: int = 8,
    placement: str = "ort",
) -> Path:
    """Write an INT8 Q/DQ model of ``pre`` to ``dest`` (per-channel symmetric INT8 weights).

    Args:
        pre: the pre-processed FP32 model.
        dest: where the Q/DQ model goes.
        calib: calibration images; may be None when ``cache`` already holds the ranges.
        method: ``minmax``, ``entropy`` or ``percentile``.
        exclude: node names kept in FP32.
        cache: calibration-range cache; ranges are computed once and reused
            by the accuracy budget's many re-quantizations.
        activations: ``int8`` (symmetric: what TensorRT needs, the default) or
            ``uint8`` (asymmetric: what x86 VNNI kernels multiply fastest, CPU only).
        weight_bits: 8, or 7 to keep weights in [-64, 64] so that x86 CPUs without VNNI
            cannot saturate the 16-bit sums of their u8 x s8 multiply (VPMADDUBSW).
        placement: ``ort`` (ORT's defaults: inputs and outputs of every quantizable op)
            or ``trt`` (TensorRT's rules as NVIDIA Model Optimizer applies them, see
            :mod:`deploykit.export.qdq_placement`).
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from deploykit.export import qdq_placement

    graph = onnx.load(str(pre))
    reader = _reader(calib, graph.graph.input[0].name) if calib is not None else None
    extra: dict[str, Any] = {"ActivationSymmetric": activations == "int8", "WeightSymmetric": True}
    nodes, keep_free = None, []
    if placement == "trt":
        nodes, keep_free = qdq_placement.trt_placement(graph)
        nodes = [n for n in nodes if n not in set(exclude)]
        extra.update(qdq_placement.ORT_OPTIONS)
        extra["OpTypesToExcludeOutputQuantization"] = sorted({n.op_type for n in graph.graph.node})
    with quiet_quantizer():
        quantize_static(
            str(pre),
            str(dest),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            reduce_range=weight_bits == 7,
            nodes_to_quantize=nodes,
            nodes_to_exclude=list(exclude),
            calibrate_method=_method(method),
            extra_options=extra,
            calibration_cache_path=str(cache) if cache else None,
        )
    if keep_free:
        quantized = onnx.load(str(dest))
        qdq_placement.remove_input_qdq(quantized, keep_free)
        onnx.save(quantized, str(dest))
    return dest


def quantize_dynamic_int8(pre: Path, dest: Path, exclude: Iterable[str] = ()) -> Path:
    """Write a dynamically quantized model (INT8 weights, activations quantized at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet_quantizer():
        quantize_dynamic(
            str(pre),
            str(dest),
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(exclude),
        )
    return dest


def qdq_summary(path: Path) -> dict[str, Any]:
    """Counts that show a model really is quantized: Q/DQ nodes, INT8 weights, ops by type."""
    import onnx

    model = onnx.load(str(path))
    ops: dict[str, int] = {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    int8 = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    return {
        "quantize_linear": ops.get("QuantizeLinear", 0),
        "dequantize_linear": ops.get("DequantizeLinear", 0),
        "int8_initializers": len(int8),
        "ops": dict(sorted(ops.items())),
    }
