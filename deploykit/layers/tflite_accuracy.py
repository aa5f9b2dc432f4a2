"""Per-layer accuracy of a ``.tflite`` in LiteRT, matched to the source ONNX graph.

LiteRT keeps every intermediate tensor with ``experimental_preserve_all_tensors``
(XNNPACK is left out: a delegate hides the tensors it computes). The TFLite
converter does not keep ONNX node names (onnx2tf names its ops
``tf.nn.convolution_3``), so tensors are matched by structure: walking the
LiteRT ops in order, each op's output is matched to a source node downstream
(within a few hops) of the source tensors its inputs were matched to, with the
same shape (NHWC read as NCHW), an op of a compatible kind, and, between a
layer and the activation TFLite fused into it, the activation its tensor name
mentions. Values only break remaining ties, because a badly quantized tensor no
longer looks like its reference. Ops that match nothing are listed, not guessed.
Only cumulative error can be read this way; the local error of a layer is
estimated from it (see :func:`deploykit.layers.metrics.estimated_local_db`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deploykit.errors import InputError
from deploykit.layers.graph import Graph, head_of, members_between
from deploykit.layers.metrics import ErrorStats
from deploykit.optional import require
from deploykit.tensorflow_compat import silenced_output

# TFLite builtin op -> ONNX op types it implements.
KINDS = {
    "CONV_2D": ("Conv",),
    "DEPTHWISE_CONV_2D": ("Conv",),
    "TRANSPOSE_CONV": ("ConvTranspose",),
    "FULLY_CONNECTED": ("Gemm", "MatMul"),
    "BATCH_MATMUL": ("MatMul", "Gemm"),
    "ADD": ("Add", "Sum"),
    "SUB": ("Sub",),
    "MUL": ("Mul",),
    "MEAN": ("ReduceMean", "GlobalAveragePool"),
    "AVERAGE_POOL_2D": ("AveragePool", "GlobalAveragePool"),
    "MAX_POOL_2D": ("MaxPool",),
    "RESHAPE": ("Reshape", "Flatten", "Squeeze", "Unsqueeze"),
    "CONCATENATION": ("Concat",),
    "SOFTMAX": ("Softmax",),
    "HARD_SWISH": ("HardSwish",),
    "LOGISTIC": ("Sigmoid",),
    "RELU": ("Relu",),
    "RELU6": ("Clip", "Relu6"),
}
ACTIVATIONS = {"Relu": "relu", "Clip": "relu6", "Relu6": "relu6", "HardSwish": "hard"}
# Ops that only move, pad or re-encode data: their output stands for their input.
LAYOUT_OPS = ("QUANTIZE", "DEQUANTIZE", "TRANSPOSE", "PAD", "PADV2", "DELEGATE")
HOPS = 4


@dataclass
class TfliteLayerErrors:
    """Cumulative error per matched source node (on a fused op's head), its fused members,
    and the LiteRT ops that matched nothing."""

    cumulative: dict[str, ErrorStats]
    members: dict[str, list[str]] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)


def _as_nchw(array: np.ndarray) -> np.ndarray:
    return array.transpose(0, 3, 1, 2) if array.ndim == 4 else array


class _LiteRt:
    """An interpreter that keeps every tensor, fed float NCHW batches."""

    def __init__(self, path: Path, threads: int | None) -> None:
        litert = require("ai_edge_litert.interpreter")
        with silenced_output():
            self.interp = litert.Interpreter(
                model_path=str(path),
                num_threads=threads,
                experimental_preserve_all_tensors=True,
                experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
            self.interp.allocate_tensors()
        self.input = self.interp.get_input_details()[0]
        self.details = {t["index"]: t for t in self.interp.get_tensor_details()}
        self.ops = self.interp._get_ops_details()  # the one API that lists ops and their tensors

    def run(self, batch: np.ndarray) -> dict[int, np.ndarray]:
        """Every op output, dequantized to float, for one NCHW float batch."""
        x = batch.transpose(0, 2, 3, 1) if len(self.input["shape"]) == 4 else batch
        if int(self.input["shape"][0]) != len(x):
            self.interp.resize_tensor_input(self.input["index"], list(x.shape))
            self.interp.allocate_tensors()
            self.input = self.interp.get_input_details()[0]
        scale, zero = self.input["quantization"]
        if self.input["dtype"] != np.float32:
            info = np.iinfo(self.input["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        self.interp.set_tensor(self.input["index"], x.astype(self.input["dtype"]))
        self.interp.invoke()
        values = {}
        for op in self.ops:
            for index in op["outputs"]:
                raw = self.interp.get_tensor(int(index))
                scale, zero = self.details[int(index)]["quantization"]
                value = (raw.astype(np.float32) - zero) * scale if scale else raw
                values[int(index)] = np.asarray(value, dtype=np.float32)
        return values


def _reference_runner(source_path: Path, graph: Graph) -> Callable[[np.ndarray], dict]:
    """A function giving every source layer's FP32 output on a batch (ONNX Runtime)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    model = onnx.load(str(source_path))
    known = {o.name for o in model.graph.output}
    for layer in graph.layers():
        tensor = graph.nodes[layer][2][0]
        if tensor not in known:
            model.graph.output.append(helper.make_tensor_value_info(tensor, 1, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options)
    names = [o.name for o in session.get_outputs()]
    return lambda images: dict(
        zip(names, session.run(names, {graph.inputs[0]: images}), strict=True)
    )


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


class _Matcher:
    """Matches LiteRT op outputs to source nodes, op by op (see the module docstring)."""

    def __init__(self, graph: Graph, reference: dict[str, np.ndarray]) -> None:
        self.graph = graph
        self.reference = reference
        self.order = {name: i for i, name in enumerate(graph.nodes)}

    def _nearby(self, tensors: list[str]) -> list[str]:
        found, frontier = [], list(tensors)
        for _ in range(HOPS):
            nxt = []
            for tensor in frontier:
                for node in self.graph.consumers.get(tensor, []):
                    if node not in found:
                        found.append(node)
                        nxt.extend(self.graph.nodes[node][2])
            frontier = nxt
        return found

    def match(self, op: str, name: str, inputs: list[str], value: np.ndarray) -> str | None:
        """The source node whose output this LiteRT tensor stands for, or None."""
        kinds = KINDS.get(op, ())
        candidates = []
        for node in self._nearby(inputs):
            out = self.graph.nodes[node][2][0]
            ref = self.reference.get(out)
            if ref is None or ref.shape[1:] != value.shape[1:]:
                continue
            candidates.append(node)
        if not candidates:
            return None
        lowered = name.lower()

        def score(node: str) -> tuple:
            node_op = self.graph.op(node)
            feeds = self.graph.activations(node)
            producer = self.graph.producer.get(feeds[0], "") if feeds else ""
            after_kind = (
                node_op in ACTIVATIONS and self.graph.nodes.get(producer, ("",))[0] in kinds
            )
            named = node_op in ACTIVATIONS and ACTIVATIONS[node_op] in lowered
            kind = node_op in kinds or (after_kind and named)
            fused = after_kind and named
            cosine = _cosine(self.reference[self.graph.nodes[node][2][0]][: len(value)], value)
            return (kind, fused, cosine, -self.order[node])

        return max(candidates, key=score)


def tflite_layer_errors(
    source_path: Path,
    artifact_path: Path,
    images: np.ndarray,
    batch: int = 8,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> TfliteLayerErrors:
    """Cumulative error of every source layer LiteRT's tensors could be matched to.

    Arguments as :func:`deploykit.layers.onnx_accuracy.onnx_layer_errors` (the artifact is a
    ``.tflite`` file; ``threads`` are LiteRT's).
    """
    graph = Graph.load(source_path)
    runtime = _LiteRt(artifact_path, threads)
    first = images[:batch]
    values = runtime.run(first)
    reference_of = _reference_runner(source_path, graph)
    matcher = _Matcher(graph, reference_of(first))
    sources: dict[int, str] = {int(runtime.input["index"]): graph.inputs[0]}
    matched: dict[int, tuple[str, str, list[str]]] = {}
    unmatched = []
    for op in runtime.ops:
        ins = [sources[int(i)] for i in op["inputs"] if int(i) in sources]
        out = int(op["outputs"][0])
        if op["op_name"] in LAYOUT_OPS:
            if ins:
                sources[out] = ins[0]
            continue
        node = matcher.match(
            op["op_name"], runtime.details[out]["name"], ins, _as_nchw(values[out])
        )
        if node is None:
            unmatched.append(f"{op['op_name']} {runtime.details[out]['name'][:60]}")
            continue
        sources[out] = graph.nodes[node][2][0]
        group = members_between(graph, ins, node)
        matched[out] = (head_of(graph, group), node, group)
    if len(unmatched) > len(matched):
        raise InputError(
            f"{artifact_path} and the reference graph do not line up: {len(unmatched)} of "
            f"{len(unmatched) + len(matched)} LiteRT ops match no reference layer",
            "pass the FP32 model the .tflite was exported from as --reference",
        )
    # Several LiteRT tensors may stand for one node (FULLY_CONNECTED, then DEQUANTIZE): keep the last.
    by_node = {head: (index, node) for index, (head, node, _) in matched.items()}
    members = {head: group for head, _, group in matched.values() if len(group) > 1}
    stats = {head: ErrorStats() for head in by_node}
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        values = values if start == 0 else runtime.run(chunk)
        reference = reference_of(chunk) if start else matcher.reference
        for head, (index, node) in by_node.items():
            stats[head].add(reference[graph.nodes[node][2][0]], _as_nchw(values[index]))
        if progress:
            progress(min(start + batch, len(images)))
    return TfliteLayerErrors(stats, members, unmatched)
