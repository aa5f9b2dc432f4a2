"""Per-layer accuracy of a converted ONNX graph (INT8 Q/DQ, FP16) in ONNX Runtime.

One "probe" model holds three copies of the network, run in one session:

- ``ref/...``: the FP32 source graph with every tensor renamed ``ref/<name>``;
- the artifact graph unchanged: its tensors carry the *cumulative* error
  (everything up to a layer converted);
- per source layer, a *local* copy of the artifact nodes that compute that
  layer's output, whose activation inputs are wired to the FP32 reference
  tensors: the layer alone converted, its inputs from the FP32 run.

A layer's converted value is what its consumers read: for Q/DQ graphs the
DequantizeLinear output that follows it (so activation quantization belongs to
the layer that produced the tensor), for FP16 graphs the tensor cast back to
FP32. Exposing intermediate tensors keeps ONNX Runtime from fusing Q/DQ pairs
into integer kernels for those tensors, so values follow the Q/DQ file's
semantics (dequantize, compute in float, quantize) rather than the fused INT8
kernels bit for bit; the end-to-end line compares the untouched artifact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.layers.graph import Attribution, Graph
from deploykit.layers.metrics import ErrorStats

REF = "ref/"
FLOAT = 1  # onnx.TensorProto.FLOAT


@dataclass
class Probe:
    """The probe model and what each of its outputs means.

    Attributes:
        model: the ``onnx.ModelProto`` to run.
        input_name: the one graph input both networks read.
        compared: source node -> ``(ref output, cumulative output, local output)``.
        missing: source node -> why it has no converted counterpart.
    """

    model: Any
    input_name: str
    compared: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def _elem_types(model: Any) -> dict[str, int]:
    """Tensor name -> ONNX element type, from shape inference (what it could infer)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    types = {}
    for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        types[info.name] = info.type.tensor_type.elem_type
    for init in inferred.graph.initializer:
        types[init.name] = init.data_type
    return types


def visible(graph: Graph, tensor: str) -> str:
    """The tensor consumers read in place of ``tensor``: after its Q -> DQ pair or FP32 Cast."""
    for _ in range(2):
        step = None
        for consumer in graph.consumers.get(tensor, []):
            op, _, outputs = graph.nodes[consumer]
            if op == "QuantizeLinear":
                after = graph.consumers.get(outputs[0], [])
                dq = [c for c in after if graph.op(c) == "DequantizeLinear"]
                if dq:
                    step = graph.nodes[dq[0]][2][0]
            elif op == "Cast" and tensor not in graph.outputs:
                step = outputs[0]
        if step is None:
            return tensor
        tensor = step
    return tensor


def _renamed(node: Any, rename: Callable[[str], str], prefix: str) -> Any:
    import onnx

    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    copy.name = prefix + node.name
    copy.input[:] = [rename(t) if t else t for t in node.input]
    copy.output[:] = [rename(t) if t else t for t in node.output]
    return copy


def build_probe(source_model: Any, artifact_model: Any) -> Probe:
    """The probe model comparing ``artifact_model`` with ``source_model`` layer by layer."""
    from onnx import helper

    source, artifact = Graph.from_model(source_model), Graph.from_model(artifact_model)
    attribution = Attribution(source, artifact)
    types = _elem_types(artifact_model)
    input_name = artifact.inputs[0]
    probe = Probe(model=None, input_name=input_name)
    nodes = [helper.make_node("Identity", [input_name], [REF + source.inputs[0]], "ref/input")]
    nodes += [_renamed(n, lambda t: REF + t, REF) for n in source_model.graph.node]
    nodes += list(artifact_model.graph.node)
    by_name = {n.name or f"{n.op_type}_{i}": n for i, n in enumerate(artifact_model.graph.node)}
    outputs: dict[str, int] = {}

    def as_float(tensor: str, original: str) -> str:
        if types.get(original, FLOAT) in (FLOAT, 0):
            return tensor
        cast = f"f32/{tensor}"
        if cast not in outputs:
            nodes.append(helper.make_node("Cast", [tensor], [cast], f"cast/{tensor}", to=FLOAT))
        return cast

    for layer in source.layers():
        target = source.nodes[layer][2][0]
        if target in artifact.producer:
            converted = visible(artifact, target)
        elif layer in artifact.nodes and artifact.nodes[layer][2]:
            converted = visible(artifact, artifact.nodes[layer][2][0])
        else:
            probe.missing[layer] = "folded into another node by the converter"
            continue
        local = _local_copy(layer, target, converted, artifact, attribution, by_name, types)
        nodes += local[0]
        cumulative, local_out = as_float(converted, converted), as_float(local[1], converted)
        for name in (REF + target, cumulative, local_out):
            outputs[name] = FLOAT
        probe.compared[layer] = (REF + target, cumulative, local_out)
    graph = helper.make_graph(
        nodes,
        "layers_probe",
        [i for i in artifact_model.graph.input if i.name == input_name],
        [helper.make_tensor_value_info(name, FLOAT, None) for name in outputs],
        [*_prefixed_initializers(source_model), *artifact_model.graph.initializer],
    )
    opsets: dict[str, int] = {}
    for entry in [*source_model.opset_import, *artifact_model.opset_import]:
        opsets[entry.domain] = max(opsets.get(entry.domain, 0), entry.version)
    probe.model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()]
    )
    probe.model.ir_version = max(source_model.ir_version, artifact_model.ir_version)
    return probe


def _prefixed_initializers(model: Any) -> list[Any]:
    import onnx

    renamed = []
    for init in model.graph.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = REF + init.name
        renamed.append(copy)
    return renamed


def _local_copy(
    layer: str,
    target: str,
    converted: str,
    artifact: Graph,
    attribution: Attribution,
    by_name: dict[str, Any],
    types: dict[str, int],
) -> tuple[list[Any], str]:
    """Artifact nodes computing ``converted`` from FP32 reference inputs, renamed for ``layer``."""
    from onnx import helper

    prefix = f"local/{layer}/"
    boundary: dict[str, str] = {}
    chosen: list[str] = []
    stack, seen = [converted], set()
    while stack:
        tensor = stack.pop()
        if not tensor or tensor in seen or tensor in artifact.constants:
            continue
        seen.add(tensor)
        root = attribution.root_tensor(tensor)
        feeds_from_source = root is not None and root != target
        if tensor in artifact.inputs or feeds_from_source:
            boundary[tensor] = root if root is not None else tensor
            continue
        producer = artifact.producer.get(tensor)
        if producer is None:
            continue
        if producer not in chosen:
            chosen.append(producer)
        stack.extend(artifact.nodes[producer][1])

    def rename(tensor: str) -> str:
        if tensor in artifact.constants:  # initializers and Constant outputs are shared
            return tensor
        if tensor in boundary:
            return f"{prefix}in/{tensor}"
        return prefix + tensor

    copies = []
    for tensor, root in boundary.items():
        wanted = types.get(tensor, FLOAT)
        if wanted in (FLOAT, 0):
            copies.append(helper.make_node("Identity", [REF + root], [rename(tensor)]))
        else:
            copies.append(helper.make_node("Cast", [REF + root], [rename(tensor)], to=wanted))
    order = {name: i for i, name in enumerate(artifact.nodes)}
    for name in sorted(chosen, key=order.__getitem__):
        copies.append(_renamed(by_name[name], rename, prefix))
    for copy in copies:
        if not copy.name:
            copy.name = f"{prefix}{copy.output[0]}"
    return copies, rename(converted)


@dataclass
class OnnxLayerErrors:
    """Cumulative and local error per source node, plus nodes with no counterpart."""

    cumulative: dict[str, ErrorStats]
    local: dict[str, ErrorStats]
    missing: dict[str, str]


def onnx_layer_errors(
    source_path: Path,
    artifact_path: Path,
    images: np.ndarray,
    batch: int = 8,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> OnnxLayerErrors:
    """Run the probe on ``images`` (NCHW, prepared for the model) and accumulate errors.

    Args:
        source_path: the FP32 reference ONNX graph.
        artifact_path: the converted ONNX graph.
        images: model input, already laid out as the artifact's input wants.
        batch: images per run (bounds memory: every tensor is kept thrice).
        threads: ONNX Runtime intra-op threads.
        progress: called with the number of images done after each batch.
    """
    import onnx
    import onnxruntime as ort

    probe = build_probe(onnx.load(str(source_path)), onnx.load(str(artifact_path)))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        probe.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    cumulative = {layer: ErrorStats() for layer in probe.compared}
    local = {layer: ErrorStats() for layer in probe.compared}
    for start in range(0, len(images), batch):
        outputs = session.run(names, {probe.input_name: images[start : start + batch]})
        values = dict(zip(names, outputs, strict=True))
        for layer, (ref, cum, loc) in probe.compared.items():
            cumulative[layer].add(values[ref], values[cum])
            local[layer].add(values[ref], values[loc])
        if progress:
            progress(min(start + batch, len(images)))
    return OnnxLayerErrors(cumulative, local, probe.missing)
