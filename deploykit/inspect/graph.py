"""Summaries of exported graphs: ONNX (onnx) and TFLite (ai_edge_litert, when installed).

A summary holds the op histogram, the quantized ops, the inputs and outputs
with shapes and dtypes, the opset (ONNX) and the size on disk.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deploykit.errors import InputError
from deploykit.fileio import existing_file

# ONNX ops that only appear in quantized graphs (besides QLinear*, counted by prefix).
ONNX_QUANT_OPS = (
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "ConvInteger",
)
TFLITE_QUANT_OPS = ("QUANTIZE", "DEQUANTIZE")
QUANT_DTYPES = ("int8", "uint8", "int16", "int4")


@dataclass
class GraphSummary:
    """What an exported graph holds.

    Attributes:
        path: the file.
        format: ``"onnx"`` or ``"tflite"``.
        size_bytes: size on disk.
        nodes: number of ops.
        ops: op type -> count, most frequent first.
        quantized: quantization op type -> count (Q/DQ, QLinear*, ...).
        inputs: ``{"name", "shape", "dtype"}`` per graph input (symbolic dims as strings).
        outputs: the same for graph outputs.
        opset: ONNX domain -> opset version (empty for TFLite).
        params: number of stored weight values (initializers / constant tensors).
        details: format-specific extras (producer, IR version, ...).
    """

    path: str
    format: str
    size_bytes: int
    nodes: int
    ops: dict[str, int]
    quantized: dict[str, int]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    opset: dict[str, int] = field(default_factory=dict)
    params: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _onnx_value(value) -> dict[str, Any]:
    import onnx

    tensor = value.type.tensor_type
    dims = [
        d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in tensor.shape.dim
    ]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name if tensor.elem_type else "?"
    return {"name": value.name, "shape": dims, "dtype": dtype}


def _onnx_nodes(graph):
    """Every node, including those inside subgraphs (If/Loop bodies)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g.node:
                yield from _onnx_nodes(attr.g)
            for sub in attr.graphs:
                yield from _onnx_nodes(sub)


def summarize_onnx(path: Path) -> GraphSummary:
    """Summarise an ONNX file (external data is not read)."""
    import numpy as np
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise InputError(f"cannot read {path} as ONNX ({exc})", "give an .onnx file") from None
    graph = model.graph
    ops = Counter(node.op_type for node in _onnx_nodes(graph))
    quantized = {op: n for op, n in ops.items() if op in ONNX_QUANT_OPS or op.startswith("QLinear")}
    initializer_names = {init.name for init in graph.initializer}
    params = sum(int(np.prod(init.dims)) for init in graph.initializer)
    return GraphSummary(
        path=str(path),
        format="onnx",
        size_bytes=path.stat().st_size,
        nodes=sum(ops.values()),
        ops=dict(ops.most_common()),
        quantized=quantized,
        inputs=[_onnx_value(v) for v in graph.input if v.name not in initializer_names],
        outputs=[_onnx_value(v) for v in graph.output],
        opset={imp.domain or "ai.onnx": imp.version for imp in model.opset_import},
        params=params,
        details={
            "ir_version": model.ir_version,
            "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "graph_name": graph.name,
        },
    )


def _tflite_value(detail: dict) -> dict[str, Any]:
    shape = [int(d) for d in detail.get("shape_signature", detail["shape"])]
    out = {
        "name": detail["name"],
        "shape": [d if d >= 0 else "?" for d in shape],
        "dtype": detail["dtype"].__name__
        if hasattr(detail["dtype"], "__name__")
        else str(detail["dtype"]),
    }
    scale, zero = detail.get("quantization", (0.0, 0))
    if scale:
        out["quantization"] = {"scale": float(scale), "zero_point": int(zero)}
    return out


def summarize_tflite(path: Path) -> GraphSummary:
    """Summarise a TFLite flatbuffer with LiteRT's interpreter."""
    from deploykit.optional import require

    interpreter_module = require("ai_edge_litert.interpreter")
    try:
        interpreter = interpreter_module.Interpreter(model_path=str(path))
    except (ValueError, RuntimeError) as exc:
        raise InputError(f"cannot read {path} as TFLite ({exc})", "give a .tflite file") from None
    tensors = interpreter.get_tensor_details()
    dtypes = {t["index"]: getattr(t["dtype"], "__name__", str(t["dtype"])) for t in tensors}
    ops_details = interpreter._get_ops_details()  # the only API that lists the ops
    ops = Counter(op["op_name"] for op in ops_details)
    quantized = {op: n for op, n in ops.items() if op in TFLITE_QUANT_OPS}
    int_ops = sum(
        1
        for op in ops_details
        if op["op_name"] not in TFLITE_QUANT_OPS
        and any(dtypes.get(i) in QUANT_DTYPES for i in op["inputs"] if i >= 0)
    )
    if int_ops:
        quantized["ops with integer inputs"] = int_ops
    import numpy as np

    constant_ids = {i for op in ops_details for i in op["inputs"] if i >= 0}
    constant_ids -= {i for op in ops_details for i in op["outputs"]}
    constant_ids -= {d["index"] for d in interpreter.get_input_details()}
    params = sum(int(np.prod(t["shape"])) for t in tensors if t["index"] in constant_ids)
    return GraphSummary(
        path=str(path),
        format="tflite",
        size_bytes=path.stat().st_size,
        nodes=sum(ops.values()),
        ops=dict(ops.most_common()),
        quantized=quantized,
        inputs=[_tflite_value(d) for d in interpreter.get_input_details()],
        outputs=[_tflite_value(d) for d in interpreter.get_output_details()],
        params=params,
        details={"tensors": len(tensors)},
    )


def summarize_graph(path: Path) -> GraphSummary:
    """Summarise an ``.onnx`` or ``.tflite`` file.

    Raises:
        InputError: when the file is missing, of another kind, or unreadable.
    """
    path = existing_file(path, "model file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return summarize_onnx(path)
    if suffix == ".tflite":
        return summarize_tflite(path)
    raise InputError(f"cannot summarise {path.name} as a graph", "give an .onnx or .tflite file")
