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


class Fp32Keeper:
    """Copies of a Q/DQ artifact with chosen source nodes kept in FP32.

    Args:
        artifact_model: the Q/DQ artifact (``onnx.ModelProto``).
        source_model: the FP32 reference it was made from.
    """

    def __init__(self, artifact_model: Any, source_model: Any) -> None:
        self.artifact_model = artifact_model
        self.source = Graph.from_model(source_model)
        self.artifact = Graph.from_model(artifact_model)
        self.attribution = Attribution(self.source, self.artifact)
        self._initializers = {i.name: i for i in artifact_model.graph.initializer}
        self._reference = {i.name: i for i in source_model.graph.initializer}
        self.owner = {  # node index -> the source node its Q/DQ belongs to
            index: self.attribution.node(node.name or f"{node.op_type}_{index}")
            for index, node in enumerate(artifact_model.graph.node)
            if node.op_type in QDQ_OPS
        }

    def _array(self, name: str, reference: bool = False) -> np.ndarray | None:
        from onnx import numpy_helper

        found = (self._reference if reference else self._initializers).get(name)
        return None if found is None else numpy_helper.to_array(found)

    def _dequantized(self, node: Any) -> tuple[np.ndarray, np.ndarray]:
        """A constant DequantizeLinear's values and its scale broadcast to them."""
        values = self._array(node.input[0]).astype(np.float64)
        scale = self._array(node.input[1]).astype(np.float64)
        zero = self._array(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if scale.size > 1:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            shape = [1] * values.ndim
            shape[axis] = scale.size
            scale = scale.reshape(shape)
            zero = zero.reshape(shape) if zero is not None else None
        shifted = values - (zero.astype(np.float64) if zero is not None else 0.0)
        return shifted * scale, np.broadcast_to(scale, values.shape)

    def _reference_value(self, tensor: str) -> np.ndarray | None:
        """The reference's FP32 initializer read where the artifact reads ``tensor``."""
        for consumer in self.artifact.consumers.get(tensor, []):
            if consumer in self.source.nodes:
                index = self.artifact.nodes[consumer][1].index(tensor)
                inputs = self.source.nodes[consumer][1]
                if index < len(inputs) and inputs[index] in self._reference:
                    return self._array(inputs[index], reference=True)
        return None

    def keep(self, members: list[str]) -> tuple[Any, str]:
        """A copy of the artifact with ``members`` (source nodes) in FP32.

        Returns the model and where its weights came from: ``reference`` (the source's
        FP32 initializers, checked to be what was quantized: within half a step) or
        ``dequantized`` (the artifact's INT8 weights, when the source's differ).
        """
        import onnx
        from onnx import numpy_helper

        model = onnx.ModelProto()
        model.CopyFrom(self.artifact_model)
        wanted, weights = set(members), "reference"
        for index, node in enumerate(model.graph.node):
            if self.owner.get(index) not in wanted:
                continue
            if node.op_type == "DequantizeLinear" and node.input[0] in self._initializers:
                values, scale = self._dequantized(node)
                exact = self._reference_value(node.output[0])
                close = exact is not None and exact.shape == values.shape
                if close and np.all(np.abs(exact - values) <= 0.51 * scale + 1e-7):
                    values = exact
                else:
                    weights = "dequantized"
                fp32 = f"{node.output[0]}/fp32"
                array = values.astype(np.float32)
                model.graph.initializer.append(numpy_helper.from_array(array, fp32))
                del node.input[:]
                node.input.append(fp32)
            else:
                del node.input[1:]
            node.op_type, node.domain = "Identity", ""
            del node.attribute[:]
        del model.graph.value_info[:]  # the int8 tensors between the pairs are float now
        return model, weights


def keep_fp32(artifact_model: Any, source_model: Any, members: list[str]) -> tuple[Any, str]:
    """:meth:`Fp32Keeper.keep` for one set of ``members``."""
    return Fp32Keeper(artifact_model, source_model).keep(members)


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
    from deploykit.metrics import class_mismatch, label_classes

    reference = logits(source_model.SerializeToString(), images, threads)
    if labels is not None and class_mismatch(reference.shape[1], label_classes(labels), ""):
        labels = None  # top-1 on labels the model was not trained for means nothing
    int8 = fidelity(reference, logits(artifact_model.SerializeToString(), images, threads), labels)
    sources: dict[str, str] = {}
    keeper = Fp32Keeper(artifact_model, source_model)

    def variant(head: str) -> bytes:
        model, sources[head] = keeper.keep(units[head])
        return model.SerializeToString()

    figures = each_layer(variant, list(units), images, reference, labels, progress, threads)
    gap = 1.0 - int8["cosine"]
    for head, entry in figures.items():
        entry["recovered"] = (entry["cosine"] - int8["cosine"]) / gap if gap > 1e-9 else 0.0
        entry["agreement_change"] = entry["agreement"] - int8["agreement"]
        if "top1" in entry:
            entry["top1_change"] = round(entry["top1"] - int8["top1"], 3)
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
