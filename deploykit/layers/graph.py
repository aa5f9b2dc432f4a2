"""The source graph, and how names in a converted graph lead back to its nodes.

Every per-layer figure is keyed by a node of the *source* ONNX graph (the FP32
export). Converters keep most of those names but not all, and each runtime
renames again. Attribution therefore goes through tensors as well as nodes:

- a node of the converted graph with a source node's name is that node
  (Q/DQ insertion and the FP16 converter keep node names);
- a value-preserving node (QuantizeLinear, DequantizeLinear, Cast, Identity)
  belongs to the node that produced the activation it carries; one that only
  carries a constant (a weight's DequantizeLinear) or a graph input belongs to
  its first consumer;
- any other node belongs to the source producer of one of its output tensors.

A runtime's record (ORT's optimized node, OpenVINO's ``originalLayersNames``,
TensorRT's ``[ONNX Layer: ...]``) is resolved the same way after the suffixes
the runtime appends (``/WithoutBiases``, ``_token_12``, ``/duplicated``) are
stripped. Whatever resolves to nothing is reported, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploykit.errors import InputError

TRANSPARENT_OPS = ("QuantizeLinear", "DequantizeLinear", "Cast", "Identity")
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# Suffixes runtimes append to the names they keep: ORT's "_token_12" and "/duplicated",
# OpenVINO's "/WithoutBiases", TensorRT's " + " joined fusions are split before this.
_SUFFIXES = re.compile(r"(/duplicated|/WithoutBiases|_token_\d+|_nchwc|/[^/]*$)+$")


@dataclass
class Graph:
    """An ONNX graph indexed for walking.

    Attributes:
        nodes: node name -> ``(op_type, inputs, outputs)`` in graph order.
        producer: tensor name -> name of the node that writes it.
        consumers: tensor name -> names of the nodes that read it.
        constants: initializer names and outputs of Constant nodes.
        inputs: graph input names (without initializers).
        outputs: graph output names.
    """

    nodes: dict[str, tuple[str, list[str], list[str]]] = field(default_factory=dict)
    producer: dict[str, str] = field(default_factory=dict)
    consumers: dict[str, list[str]] = field(default_factory=dict)
    constants: set[str] = field(default_factory=set)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @classmethod
    def from_model(cls, model: Any) -> Graph:
        """Index an ``onnx.ModelProto`` (unnamed nodes get ``<op>_<index>`` names)."""
        graph = cls()
        graph.constants = {i.name for i in model.graph.initializer}
        for index, node in enumerate(model.graph.node):
            name = node.name or f"{node.op_type}_{index}"
            graph.nodes[name] = (node.op_type, list(node.input), list(node.output))
            if node.op_type == "Constant":
                graph.constants.update(node.output)
            for tensor in node.output:
                graph.producer[tensor] = name
            for tensor in node.input:
                if tensor:
                    graph.consumers.setdefault(tensor, []).append(name)
        graph.inputs = [i.name for i in model.graph.input if i.name not in graph.constants]
        graph.outputs = [o.name for o in model.graph.output]
        return graph

    @classmethod
    def load(cls, path: Path) -> Graph:
        import onnx

        return cls.from_model(onnx.load(str(path), load_external_data=False))

    def op(self, node: str) -> str:
        return self.nodes[node][0]

    def activations(self, node: str) -> list[str]:
        """The non-constant inputs of ``node``."""
        return [t for t in self.nodes[node][1] if t and t not in self.constants]

    def layers(self) -> list[str]:
        """Nodes that compute something (Constant nodes left out), in graph order."""
        return [n for n, (op, _, _) in self.nodes.items() if op != "Constant"]


class Attribution:
    """Maps names from a converted graph (or a runtime) to source node names.

    Args:
        source: the source (FP32) graph.
        artifact: the converted graph the runtime ran; the source itself when None.
    """

    def __init__(self, source: Graph, artifact: Graph | None = None) -> None:
        self.source = source
        self.artifact = artifact or source
        self._cache: dict[str, str | None] = {}

    def root_tensor(self, tensor: str) -> str | None:
        """The source tensor an artifact tensor carries, walking up value-preserving ops."""
        seen = 0
        while tensor not in self.source.producer and tensor not in self.source.inputs:
            node = self.artifact.producer.get(tensor)
            if node is None or self.artifact.op(node) not in TRANSPARENT_OPS or seen > 8:
                if node is not None and node in self.source.nodes:
                    outputs = self.source.nodes[node][2]
                    return outputs[0] if outputs else None
                return None
            tensor, seen = self.artifact.nodes[node][1][0], seen + 1
        return tensor

    def node(self, artifact_node: str) -> str | None:
        """The source node an artifact node belongs to, or None."""
        if artifact_node not in self._cache:
            self._cache[artifact_node] = self._node(artifact_node)
        return self._cache[artifact_node]

    def _node(self, name: str) -> str | None:
        if name in self.source.nodes and name not in self.artifact.nodes:
            return name  # a runtime record naming a source node the artifact also lost
        if name not in self.artifact.nodes:
            return None
        if name in self.source.nodes:
            return name
        op, inputs, outputs = self.artifact.nodes[name]
        if op in TRANSPARENT_OPS:
            root = self.root_tensor(inputs[0]) if inputs else None
            if root in self.source.producer:
                return self.source.producer[root]
            # A weight's or the graph input's Q/DQ: the layer that reads it.
            for consumer in self.artifact.consumers.get(outputs[0], []):
                if (found := self.node(consumer)) is not None:
                    return found
            return None
        for tensor in outputs:
            root = self.root_tensor(tensor)
            if root in self.source.producer:
                return self.source.producer[root]
        return None

    def resolve(self, name: str) -> str | None:
        """A runtime's name for a node or tensor -> source node name, or None."""
        for candidate in (name, _SUFFIXES.sub("", name)):
            known = candidate in self.artifact.nodes or candidate in self.source.nodes
            if known and (found := self.node(candidate)) is not None:
                return found
            if candidate in self.artifact.producer or candidate in self.source.producer:
                root = self.root_tensor(candidate)
                if root in self.source.producer:
                    return self.source.producer[root]
        return None

    def resolve_all(self, names: Iterable[str]) -> list[str]:
        """Source nodes for ``names`` (unresolvable ones dropped), unique, in graph order."""
        found = {self.resolve(n) for n in names if n}
        return [n for n in self.source.nodes if n in found]


def head_of(source: Graph, members: list[str]) -> str:
    """The node a fused group's time is put on: its first weighted op, else its first node."""
    return next((m for m in members if source.op(m) in WEIGHTED_OPS), members[0])


def check_shared_names(source: Graph, artifact: Graph, what: str) -> None:
    """Refuse an artifact that is not a conversion of the source graph.

    Exporters give every graph names like ``node_relu`` and ``node_linear``, so a
    few shared names prove nothing: at least half of the source's weighted layers
    must be found in the artifact, by node name or by output tensor.

    Raises:
        InputError: naming both sides, so the user sees they are different graphs.
    """
    weighted = [n for n in source.layers() if source.op(n) in WEIGHTED_OPS]
    found = [
        n for n in weighted if n in artifact.nodes or source.nodes[n][2][0] in artifact.producer
    ]
    if len(found) * 2 < len(weighted) or not found:
        raise InputError(
            f"{what} and the reference graph share only {len(found)} of {len(weighted)} "
            "weighted layers by name",
            "pass the FP32 model the artifact was exported from as --reference",
        )


def members_between(source: Graph, inputs: Iterable[str], node: str, hops: int = 6) -> list[str]:
    """Source nodes from the tensors ``inputs`` up to and including ``node``, in graph order.

    This is the group a runtime fused into one kernel whose inputs and output
    were matched to those source tensors.
    """
    stop = set(inputs)
    found, frontier = {node}, [node]
    for _ in range(hops):
        nxt = []
        for current in frontier:
            for tensor in source.activations(current):
                producer = source.producer.get(tensor)
                if tensor in stop or producer is None or producer in found:
                    continue
                found.add(producer)
                nxt.append(producer)
        frontier = nxt
    if frontier:  # the inputs were not reached: not a contiguous group, keep the node alone
        return [node]
    return [n for n in source.nodes if n in found]
