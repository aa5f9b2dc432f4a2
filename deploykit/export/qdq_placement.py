"""TensorRT-style Q/DQ placement, following NVIDIA Model Optimizer's INT8 ONNX rules.

ModelOpt (``modelopt.onnx.quantization.int8``) drives ONNX Runtime's
``quantize_static`` with a node list and options chosen for TensorRT's fusions:

- Partitions grow from each linear op (Conv, ConvTranspose, Gemm, MatMul)
  through the pointwise ops TensorRT fuses into it (Relu, BN, bias adds, ...)
  and end at a residual Add. Partition heads are quantized (their activation
  input and weights); inside a partition nothing is.
- A residual Add takes Q/DQ on its shortcut input only, not on the input that
  comes out of the conv backbone (``build_non_residual_input_map``,
  ``remove_partial_input_qdq``), so TensorRT fuses Conv + Add.
- Other nodes of quantizable types are quantized (pooling only next to a
  quantized neighbour); no output is quantized
  (``OpTypesToExcludeOutputQuantization`` = every op type); no bias is
  (``QuantizeBias=False``); activations symmetric.

This module computes the node list and the inputs to leave unquantized on a
plain ``onnx.ModelProto``; :func:`remove_input_qdq` is the post-processing
step. One difference from ModelOpt, on purpose: weights are stored as int8
initializers behind a DequantizeLinear (ModelOpt keeps FP32 weights with a
Q/DQ pair, ``AddQDQPairToWeight``); TensorRT reads both, and int8 weights make
the file 4x smaller and let CPU runtimes skip re-quantizing them.
"""

from __future__ import annotations

from collections import deque
from typing import Any

LINEAR = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
POINTWISE = {
    "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish",
    "LeakyRelu", "Tanh", "Elu", "Selu", "Softplus", "Erf", "Exp", "Abs", "Neg", "Pow",
    "Sqrt", "BatchNormalization", "PRelu", "Max", "Min",
}  # fmt: skip
POOLING = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}
COPY = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Expand"}
# ORT's quantizable types less those ModelOpt takes out of its registries (Relu, Concat,
# Reshape, Softmax, ...): what may carry input Q/DQ.
QUANTIZABLE = {
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Mul", "Clip", "MaxPool", "AveragePool",
    "GlobalAveragePool", "BatchNormalization", "Resize", "HardSwish", "LayerNormalization",
}  # fmt: skip
# Pooling/scaling producers whose outputs ModelOpt lets a following pointwise head quantize.
OUTPUT_QUANT_CANDIDATES = {
    "AveragePool",
    "BatchNormalization",
    "GlobalAveragePool",
    "MaxPool",
    "Mul",
}
# Backward paths TensorRT fuses into a Conv (ModelOpt's get_fusible_backbone); BiasAdd and
# ConstMul (an Add/Mul with a constant input) are optional, copy ops are skipped.
FUSIBLE_PATHS = (
    ("BiasAdd", "ConstMul", "Conv"),
    ("Relu", "BiasAdd", "ConstMul", "Conv"),
    ("BatchNormalization", "BiasAdd", "Conv"),
    ("Relu", "BatchNormalization", "BiasAdd", "Conv"),
    ("MaxPool", "Relu", "BatchNormalization", "BiasAdd", "Conv"),
    ("Mul", "Sigmoid", "BatchNormalization", "Conv"),
)
OPTIONAL = {"BiasAdd", "ConstMul"}
# quantize_static extra options ModelOpt sets for TensorRT (configure_ort), less
# AddQDQPairToWeight (see the module docstring); OpTypesToExcludeOutputQuantization is
# every op type of the graph, set by the caller.
ORT_OPTIONS = {
    "QuantizeBias": False,
    "DedicatedQDQPair": False,
    "ForceQuantizeNoInputCheck": True,
    "QDQDisableWeightAdjustForInt32Bias": True,
}


class _Graph:
    """Producers, consumers and constants of an ONNX graph, by tensor name."""

    def __init__(self, model: Any) -> None:
        graph = model.graph
        self.nodes = list(graph.node)
        self.const = {i.name for i in graph.initializer}
        self.const |= {n.output[0] for n in self.nodes if n.op_type == "Constant"}
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list[Any]] = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.outputs = {o.name for o in graph.output}

    def variable_inputs(self, node: Any) -> list[str]:
        return [i for i in node.input if i and i not in self.const]

    def parents(self, node: Any) -> list[Any]:
        return [self.producer[i] for i in self.variable_inputs(node) if i in self.producer]

    def children(self, node: Any) -> list[Any]:
        seen: dict[str, Any] = {}
        for out in node.output:
            for child in self.consumers.get(out, []):
                seen.setdefault(child.name, child)
        return list(seen.values())

    def kind(self, node: Any) -> str:
        """The op type, with Add/Mul of a constant named BiasAdd/ConstMul as ModelOpt does."""
        has_const = len(self.variable_inputs(node)) < len([i for i in node.input if i])
        if node.op_type == "Add" and has_const:
            return "BiasAdd"
        if node.op_type == "Mul" and has_const:
            return "ConstMul"
        return node.op_type


def _matches(g: _Graph, node: Any, path: tuple[str, ...]) -> bool:
    """Whether walking back from ``node`` follows ``path`` (optional steps may be skipped)."""
    if not path:
        return True
    kind = g.kind(node)
    if kind in COPY:
        return any(_matches(g, p, path) for p in g.parents(node))
    if kind == path[0]:
        rest = path[1:]
        return not rest or any(_matches(g, p, rest) for p in g.parents(node))
    return path[0] in OPTIONAL and _matches(g, node, path[1:])


def _backbone(g: _Graph, node: Any) -> Any | None:
    """The Conv a pointwise chain ending at ``node`` fuses into, if it matches a fusible path."""
    if not any(_matches(g, node, path) for path in FUSIBLE_PATHS):
        return None
    queue = deque([node])
    while queue:
        current = queue.popleft()
        if current.op_type in ("Conv", "ConvTranspose"):
            return current
        queue.extend(g.parents(current))
    return None


def _ancestors(g: _Graph, node: Any) -> dict[str, int]:
    """Distance from ``node`` to each of its ancestors (itself at 0)."""
    dist = {node.name: 0}
    queue = deque([node])
    while queue:
        current = queue.popleft()
        for parent in g.parents(current):
            if parent.name not in dist:
                dist[parent.name] = dist[current.name] + 1
                queue.append(parent)
    return dist


def non_residual_inputs(g: _Graph) -> dict[str, str | None]:
    """For each Add: the input coming out of the conv backbone (no Q/DQ there), else None."""
    found: dict[str, str | None] = {}
    for node in g.nodes:
        if node.op_type != "Add":
            continue
        inputs = g.variable_inputs(node)
        if len(inputs) != 2 or any(i not in g.producer for i in inputs):
            found[node.name] = None
            continue
        first, second = (g.producer[i] for i in inputs)
        backbones = (_backbone(g, first), _backbone(g, second))
        up1, up2 = _ancestors(g, first), _ancestors(g, second)
        common = set(up1) & set(up2)
        lca = min(common, key=lambda n: up1[n] + up2[n]) if common else None
        d1, d2 = (up1[lca], up2[lca]) if lca else (0, 0)
        if backbones[0] and backbones[1]:
            same = backbones[0].name == backbones[1].name
            found[node.name] = None if same else inputs[0] if d1 > d2 else inputs[1]
        elif backbones[0] or backbones[1]:
            index = 0 if backbones[0] else 1
            # Conv -> ... -> Add with the Conv as common ancestor is no residual (ConvNext).
            found[node.name] = None if lca == backbones[index].name else inputs[index]
        else:
            found[node.name] = None
    return found


def _partition(g: _Graph, root: Any, taken: set[str], residual: dict[str, str | None]) -> list:
    """Grow a TensorRT fusion partition from a linear op (ModelOpt's _build_fusible_partition)."""
    partition: list[Any] = []

    def grow(node: Any) -> None:
        partition.append(node)
        taken.add(node.name)
        if node.op_type == "Add" and residual.get(node.name):
            return
        outputs = {o for n in partition for o in n.output}
        for child in g.children(node):
            if child.name in taken:
                continue
            fusible = child.op_type in POINTWISE and all(
                i in outputs for i in g.variable_inputs(child)
            )
            bn_relu = child.op_type in ("BatchNormalization", "Relu") and _backbone(g, child)
            on_path = child.op_type == "Add" and residual.get(child.name) in node.output
            if fusible or bn_relu or on_path:
                grow(child)

    grow(root)
    return partition


def trt_placement(model: Any) -> tuple[list[str], list[tuple[str, str]]]:
    """Nodes to quantize and ``(tensor, consumer node)`` inputs to keep free of Q/DQ.

    Args:
        model: the pre-processed FP32 ``onnx.ModelProto``.
    """
    g = _Graph(model)
    residual = non_residual_inputs(g)
    taken: set[str] = set()
    partitions = [
        _partition(g, n, taken, residual)
        for n in g.nodes
        if n.op_type in LINEAR and n.name not in taken
    ]
    quantize: list[str] = []
    keep_free: list[tuple[str, str]] = []
    for partition in partitions:
        inside = {o for n in partition for o in n.output}
        for node in partition:
            external = [i for i in g.variable_inputs(node) if i not in inside]
            internal = [i for i in g.variable_inputs(node) if i in inside]
            if external:
                quantize.append(node.name)
                keep_free += [(i, node.name) for i in internal]
    cask = {n.name for p in partitions for n in p}
    for node in g.nodes:  # pointwise heads after a conv partition, e.g. a non-residual Add
        if node.name in taken or node.op_type not in QUANTIZABLE or node.op_type in POOLING:
            continue
        if node.op_type in POINTWISE and len(g.variable_inputs(node)) < len(node.input):
            continue  # a pointwise op with a constant input
        parents = g.parents(node)
        if node.op_type in ("Add", "Mul") and not any(
            _follows(g, p, cask) or p.op_type in OUTPUT_QUANT_CANDIDATES for p in parents
        ):
            continue
        quantize.append(node.name)
        taken.add(node.name)
    quantized = set(quantize)
    for node in g.nodes:  # pooling: only next to a quantized node (through copy ops)
        if node.op_type not in POOLING & QUANTIZABLE or node.name in taken:
            continue
        if _near(g, node, quantized, g.children) or _near(g, node, quantized, g.parents):
            quantize.append(node.name)
    partial = {consumer for _, consumer in keep_free}
    skipped = {
        n.name
        for n in g.nodes
        if set(n.output) & g.outputs and n.op_type not in LINEAR and n.name not in partial
    }
    skipped |= small_matmuls(model)
    return [n for n in quantize if n not in skipped], keep_free


def small_matmuls(model: Any, min_dim: int = 16) -> set[str]:
    """Gemm/MatMul nodes ModelOpt leaves in float for TensorRT (``find_nodes_from_matmul_to_exclude``).

    At batch 1 (dynamic dimensions set to 1, as ModelOpt's shape inference does), a
    Gemm or MatMul whose output has one row or one column is a GEMV, which cannot use
    Tensor Cores; one whose K or N is under ``min_dim`` is too small for INT8 kernels.
    Q/DQ on either costs TensorRT time, so neither is quantized: an image classifier's
    final Linear at batch 1 is such a GEMV.

    Args:
        model: the FP32 ``onnx.ModelProto`` (not modified).
        min_dim: the smallest K and N ModelOpt quantizes (its ``_MIN_MATMUL_DIM``).
    """
    import onnx
    from onnx import numpy_helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for graph_input in probe.graph.input:
        for dim in graph_input.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.Clear()
                dim.dim_value = 1
    for graph_output in probe.graph.output:  # let inference fill them in at batch 1
        graph_output.type.tensor_type.ClearField("shape")
    inferred = onnx.shape_inference.infer_shapes(probe).graph
    shapes = {
        v.name: [
            d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim
        ]
        for v in (*inferred.value_info, *inferred.output)
    }
    weights = {i.name: numpy_helper.to_array(i).shape for i in model.graph.initializer}
    small: set[str] = set()
    for node in model.graph.node:
        out = shapes.get(node.output[0]) if node.op_type in ("Gemm", "MatMul") else None
        if not out or 0 in out:
            continue  # unknown shape: quantized as before
        rows = 1
        for d in out[:-1]:
            rows *= d
        k = None
        if node.input[1] in weights and len(weights[node.input[1]]) == 2:
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            k = weights[node.input[1]][1 if trans_b else 0]
        if rows == 1 or out[-1] < min_dim or (k is not None and k < min_dim):
            small.add(node.name)
    return small


def _follows(g: _Graph, node: Any, cask: set[str], depth: int = 10) -> bool:
    """Whether ``node`` is in a conv partition or follows one through copy ops."""
    if node.name in cask:
        return True
    if depth <= 0 or node.op_type not in COPY:
        return False
    parents = g.parents(node)
    return bool(parents) and all(_follows(g, p, cask, depth - 1) for p in parents)


def _near(g: _Graph, node: Any, quantized: set[str], step: Any) -> bool:
    """Whether a quantized node is next to ``node`` in ``step``'s direction, through copy ops."""
    for other in step(node):
        if other.name in quantized or (other.op_type in COPY and _near(g, other, quantized, step)):
            return True
    return False


def remove_input_qdq(model: Any, keep_free: list[tuple[str, str]]) -> int:
    """Bypass the Q/DQ pair on each ``(tensor, consumer)`` input; returns how many were bypassed.

    Q/DQ nodes left without readers are deleted.
    """
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    by_name = {n.name: n for n in graph.node}
    bypassed = 0
    for tensor, consumer in keep_free:
        node = by_name.get(consumer)
        if node is None:
            continue
        for index, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producer.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear" and q.input[0] == tensor:
                node.input[index] = tensor
                bypassed += 1
    drop_unread_qdq(graph)
    return bypassed


def drop_unread_qdq(graph: Any) -> None:
    """Delete Q/DQ nodes whose outputs nobody reads, then initializers nobody reads."""
    while True:
        read = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [
            n
            for n in graph.node
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.output[0] not in read
        ]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    read = {i for n in graph.node for i in n.input}
    unused = [i for i in graph.initializer if i.name not in read]
    for initializer in unused:
        graph.initializer.remove(initializer)
