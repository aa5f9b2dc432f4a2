"""Measured sensitivity of a Q/DQ ONNX artifact: what each layer recovers when kept in FP32.

Local SQNR says whose own conversion loses the most signal, not whether the
output notices. For the layers worst by local SQNR, the artifact is rebuilt
with that one layer's Q/DQ removed and run end to end in ONNX Runtime on the
report's images (:func:`deploykit.export.sensitivity.each_layer`, the pass the
accuracy budget uses); the output's cosine, top-1 agreement and top-1 against
the FP32 source say how much keeping the layer in FP32 buys.

A layer is kept in FP32 as runtimes execute it: the weighted op (or Add) with
the activations that follow it alone (Conv + ReLU is one kernel everywhere),
so every Q/DQ pair the report attributes to those nodes goes (the weights', the
output's; the graph input's for the first layer) and the weights become the
reference's FP32 values. Input Q/DQ pairs belong to the producing layer, as in
the local error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from deploykit.layers.graph import Attribution, Graph

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# Elementwise activations runtimes fuse into the op in front of them.
ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "Elu")
METHOD = (
    "the artifact with one layer's Q/DQ removed (its weights back to the reference's FP32 values, "
    "its output unquantized), run in ONNX Runtime on the report's images; output compared with "
    "the FP32 source"
)


def is_qdq(model: Any) -> bool:
    """Whether an ``onnx.ModelProto`` holds Q/DQ pairs."""
    return any(n.op_type in QDQ_OPS for n in model.graph.node)


def unit(source: Graph, node: str) -> list[str]:
    """``node`` as one executed layer: its producer when it is an activation fed by it alone,
    then the activations that alone follow it, in graph order."""
    head = node
    while source.op(head) in ACTIVATIONS:
        feeds = source.activations(head)
        producer = source.producer.get(feeds[0]) if feeds else None
        if producer is None or len(source.consumers.get(feeds[0], [])) != 1:
            break
        head = producer
    members = [head]
    while True:
        outputs = source.nodes[members[-1]][2]
        consumers = source.consumers.get(outputs[0], []) if outputs else []
        if len(consumers) != 1 or source.op(consumers[0]) not in ACTIVATIONS:
            return members
        members.append(consumers[0])


def _dequantized(node: Any, constants: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A constant DequantizeLinear's values and its scale broadcast to them."""
    values = constants[node.input[0]].astype(np.float64)
    scale = constants[node.input[1]].astype(np.float64)
    zero = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if scale.size > 1:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * values.ndim
        shape[axis] = scale.size
        scale = scale.reshape(shape)
        zero = zero.reshape(shape) if zero is not None else None
    shifted = values - (zero.astype(np.float64) if zero is not None else 0.0)
    return shifted * scale, np.broadcast_to(scale, values.shape)


def _reference_value(
    tensor: str, artifact: Graph, source: Graph, reference: dict[str, np.ndarray]
) -> np.ndarray | None:
    """The reference's FP32 initializer read where the artifact reads ``tensor``."""
    for consumer in artifact.consumers.get(tensor, []):
        if consumer in source.nodes:
            index = artifact.nodes[consumer][1].index(tensor)
            inputs = source.nodes[consumer][1]
            if index < len(inputs) and inputs[index] in reference:
                return reference[inputs[index]]
    return None


def keep_fp32(artifact_model: Any, source_model: Any, members: list[str]) -> tuple[Any, str]:
    """A copy of the Q/DQ ``artifact_model`` with ``members`` (source nodes) in FP32.

    Returns the model and where its weights came from: ``reference`` (the source's
    FP32 initializers, checked to be what was quantized) or ``dequantized`` (the
    artifact's INT8 weights dequantized, when the source's differ, e.g. BatchNorm
    folded by the quantizer only).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(artifact_model)
    source, artifact = Graph.from_model(source_model), Graph.from_model(model)
    attribution = Attribution(source, artifact)
    constants = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    reference = {i.name: numpy_helper.to_array(i) for i in source_model.graph.initializer}
    wanted, weights = set(members), "reference"
    for index, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{index}"
        if node.op_type not in QDQ_OPS or attribution.node(name) not in wanted:
            continue
        if node.op_type == "DequantizeLinear" and node.input[0] in constants:
            values, scale = _dequantized(node, constants)
            exact = _reference_value(node.output[0], artifact, source, reference)
            close = exact is not None and exact.shape == values.shape
            if close and np.all(np.abs(exact - values) <= 0.51 * scale + 1e-7):
                values = exact
            else:
                weights = "dequantized"
            fp32 = f"{node.output[0]}/fp32"
            model.graph.initializer.append(numpy_helper.from_array(values.astype(np.float32), fp32))
            del node.input[:]
            node.input.append(fp32)
        else:
            del node.input[1:]
        node.op_type, node.domain = "Identity", ""
        del node.attribute[:]
    del model.graph.value_info[:]  # the int8 tensors between the pairs are float now
    return model, weights


def candidates(source: Graph, ranked: list[str], limit: int) -> dict[str, list[str]]:
    """The first ``limit`` distinct units of ``ranked`` nodes: head -> members."""
    units: dict[str, list[str]] = {}
    for node in ranked:
        if len(units) >= limit:
            break
        members = unit(source, node)
        units.setdefault(members[0], members)
    return units


def measure_recovery(
    artifact_model: Any,
    source_model: Any,
    units: dict[str, list[str]],
    images: np.ndarray,
    labels: np.ndarray | None,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Keep each unit in FP32 in turn; return per-head figures and the summary.

    Args:
        artifact_model: the Q/DQ artifact (``onnx.ModelProto``).
        source_model: the FP32 reference it was made from.
        units: head node -> the source nodes kept in FP32 together.
        images: input images in the artifact's layout.
        labels: their labels (top-1 is reported when every image has one).
        threads: ONNX Runtime intra-op threads.
        progress: called with the number of units done.
    """
    from deploykit.export.sensitivity import each_layer, fidelity, logits

    reference = logits(source_model.SerializeToString(), images, threads)
    int8 = fidelity(reference, logits(artifact_model.SerializeToString(), images, threads), labels)
    sources: dict[str, str] = {}

    def variant(head: str) -> bytes:
        model, sources[head] = keep_fp32(artifact_model, source_model, units[head])
        return model.SerializeToString()

    figures = each_layer(variant, list(units), images, reference, labels, progress, threads)
    gap = 1.0 - int8["cosine"]
    for head, entry in figures.items():
        entry["recovered"] = (entry["cosine"] - int8["cosine"]) / gap if gap > 1e-9 else 0.0
        entry["kept"] = units[head]
        entry["weights"] = sources[head]
    summary = {
        "method": METHOD,
        "measured": len(units),
        "images": len(images),
        "int8": int8,
        "fp32_top1": fidelity(reference, reference, labels).get("top1"),
    }
    return figures, summary
