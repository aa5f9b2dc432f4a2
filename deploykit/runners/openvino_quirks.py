"""Load-time rewrites of INT8 Q/DQ graphs around two OpenVINO CPU bugs (openvino 2026.4.1).

Both were found on ShuffleNet V1 (``benchmarks/openvino_shufflenet_repro.py``
reproduces them on one-layer graphs; ``benchmarks/RESULTS.md`` has the figures).
The file on disk is untouched; only what OpenVINO compiles changes, and both
rewrites compute the same sums as the file.

1. **Grouped 1x1 convolutions on AMX.** On CPUs with AMX-INT8 the CPU plugin
   runs INT8 1x1 convolutions with oneDNN's ``brgconv_avx512_amx_1x1`` kernel.
   For a grouped one (``group > 1``) whose input channels per group are above 64
   and not a multiple of 64 (72, 80, 96, 136, 160 measured; 8-64, 128, 192, 256
   right) its outputs are wrong: relative error 0.5-1.2 on random data, whatever
   the scales, zero points and Q/DQ placement (OpenVINO's own NNCF IR of the same
   network fails the same way). 3x3 grouped and ungrouped convolutions are
   right. Rewrite (AMX CPUs only): the convolution as an ungrouped one whose int8
   weight is block-diagonal (zeros between the groups), which the ungrouped
   kernel gets right, at ``group`` times that layer's multiply-adds. Not on other
   CPUs: there the grouped kernel is right, and the dense form read from a
   Concat went wrong once with oneDNN capped below AMX. An OpenVINO IR cannot
   be rewritten this way (its weights sit behind OpenVINO's decompression
   subgraph): the runner warns instead (:func:`ir_warning`).
2. **Zero points moved through padded average pooling.** OpenVINO's
   low-precision transformations (``AvgPoolTransformation``) move a
   dequantization's zero-point subtraction from before an AvgPool to after it,
   which holds only when padding is not counted: with ``count_include_pad=1``
   each padded tap adds ``-zero_point`` and a border output is off by
   ``zero_point * padded taps / taps`` steps (128 * 5/9 = 71 at a 3x3 corner).
   A zero point is there when the file's DequantizeLinear has one (``reencode=
   exact``: 128) and, on CPUs without AMX or AVX2-VNNI-INT8, also when a
   symmetric int8 tensor is read by a Convolution too: their INT8 convolutions
   take unsigned inputs only, so the plugin stores the tensor as uint8 with
   zero point 128. Rewrite (every CPU): such an AveragePool reading a
   DequantizeLinear whose zero point may be nonzero becomes a depthwise
   convolution with float weights ``1 / taps``, the same sum, which OpenVINO
   runs after the dequantization, padding included.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# Input channels per group that the AMX 1x1 kernel gets right: up to one AMX tile row
# of int8 (64 bytes), or whole rows.
AMX_GROUP_CHANNELS = 64


def _attribute(node: Any, name: str, default: Any = None) -> Any:
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _set_attributes(node: Any, **values: Any) -> None:
    import onnx

    del node.attribute[:]
    node.attribute.extend(onnx.helper.make_attribute(k, v) for k, v in values.items())


def _bad_for_amx(groups: int, per_group: int, kernel: tuple[int, ...]) -> bool:
    """Whether a conv of ``groups`` groups, ``per_group`` input channels each, hits the AMX bug."""
    return (
        groups > 1
        and tuple(kernel) == (1, 1)
        and per_group > AMX_GROUP_CHANNELS
        and per_group % AMX_GROUP_CHANNELS != 0
    )


def dense_grouped_1x1(model: Any) -> int:
    """Rewrite ``model``'s affected grouped 1x1 convolutions as ungrouped ones (in place).

    Only convolutions whose weight is an int8 initializer behind a
    DequantizeLinear with per-tensor or per-output-channel scales are rewritten
    (the others do not run in INT8). Returns how many were.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from deploykit.export.qdq_placement import drop_unread_qdq

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    rewritten = 0
    for node in list(graph.node):
        group = int(_attribute(node, "group", 1)) if node.op_type == "Conv" else 1
        dq = producer.get(node.input[1]) if group > 1 else None
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in inits:
            continue
        weight_init, scale = inits[dq.input[0]], inits.get(dq.input[1])
        if weight_init.data_type != onnx.TensorProto.INT8 or scale is None:
            continue
        by_output = _attribute(dq, "axis", 1) == 0 and not _attribute(dq, "block_size", 0)
        if numpy_helper.to_array(scale).size != 1 and not by_output:
            continue  # scales along another axis: not a layout this rewrite knows
        weight = numpy_helper.to_array(weight_init)
        if weight.ndim != 4 or not _bad_for_amx(group, weight.shape[1], weight.shape[2:]):
            continue
        out_g, in_g = weight.shape[0] // group, weight.shape[1]
        dense = np.zeros((weight.shape[0], in_g * group, 1, 1), np.int8)
        for g in range(group):
            rows = slice(g * out_g, (g + 1) * out_g)
            dense[rows, g * in_g : (g + 1) * in_g] = weight[rows]
        name = f"{dq.input[0]}_ungrouped"
        graph.initializer.append(numpy_helper.from_array(dense, name))
        new_dq = onnx.helper.make_node(
            "DequantizeLinear", [name, *dq.input[1:]], [f"{name}_dq"], f"{dq.name}_ungrouped"
        )
        new_dq.attribute.extend(dq.attribute)
        graph.node.insert(list(graph.node).index(node), new_dq)
        node.input[1] = new_dq.output[0]
        kept = [a for a in node.attribute if a.name != "group"]
        del node.attribute[:]
        node.attribute.extend(kept)
        rewritten += 1
    if rewritten:
        drop_unread_qdq(graph)
    return rewritten


def _counted_padding(node: Any) -> bool:
    """Whether an AveragePool counts explicit, nonzero padding (windows inside the padded input)."""
    return (
        node.op_type == "AveragePool"
        and _attribute(node, "count_include_pad", 0) == 1
        and any(_attribute(node, "pads", []))
        and _attribute(node, "ceil_mode", 0) == 0
        and _attribute(node, "auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
        and all(d == 1 for d in _attribute(node, "dilations", []))
    )


def _may_shift(dq: Any, inits: dict[str, Any]) -> bool:
    """Whether OpenVINO may give ``dq``'s tensor a zero point (all but uint8 with zero point 0)."""
    import onnx
    from onnx import numpy_helper

    if len(dq.input) < 3 or dq.input[2] not in inits:
        return False  # no zero point: uint8, zero point 0
    zero = inits[dq.input[2]]
    return zero.data_type != onnx.TensorProto.UINT8 or numpy_helper.to_array(zero).any()


def padded_avgpools_as_convs(model: Any) -> int:
    """Rewrite ``model``'s affected padded AveragePools as depthwise convolutions (in place).

    An AveragePool is affected when it counts padding and reads a
    DequantizeLinear whose tensor may carry a zero point; the convolution keeps
    its name, output, kernel, strides and pads, and has float weights
    ``1 / taps``. Returns how many were rewritten.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    pools = [
        node
        for node in graph.node
        if _counted_padding(node)
        and (dq := producer.get(node.input[0])) is not None
        and dq.op_type == "DequantizeLinear"
        and _may_shift(dq, inits)
    ]
    if not pools:
        return 0
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in onnx.shape_inference.infer_shapes(model).graph.value_info
    }
    rewritten = 0
    for node in pools:
        channels = (shapes.get(node.input[0]) or [0, 0])[1]
        if channels <= 0:
            continue
        kernel = list(_attribute(node, "kernel_shape"))
        weight = np.full((channels, 1, *kernel), 1.0 / np.prod(kernel), np.float32)
        name = f"{node.name or node.output[0]}_taps"
        graph.initializer.append(numpy_helper.from_array(weight, name))
        strides = list(_attribute(node, "strides", [1] * len(kernel)))
        pads = list(_attribute(node, "pads"))
        node.op_type = "Conv"
        node.input.append(name)
        _set_attributes(node, group=channels, kernel_shape=kernel, strides=strides, pads=pads)
        rewritten += 1
    return rewritten


def avoid_cpu_bugs(model: Any, amx: bool) -> dict[str, int]:
    """Apply the rewrites that this CPU needs to ``model`` (in place); returns counts by rewrite.

    Args:
        model: an INT8 Q/DQ ``onnx.ModelProto``.
        amx: whether the CPU has AMX-INT8 (only then are grouped 1x1 convolutions rewritten).
    """
    counts = {"padded_avgpools_as_convs": padded_avgpools_as_convs(model)}
    if amx:
        counts["grouped_1x1_as_dense"] = dense_grouped_1x1(model)
    return {k: v for k, v in counts.items() if v}


def ir_warning(model: Any) -> str | None:
    """A one-line warning for an OpenVINO model (an IR) that still has affected grouped 1x1 convs.

    The ONNX rewrite cannot reach an IR's GroupConvolution layers (their int8 weights sit
    behind OpenVINO's own decompression subgraph), so on an AMX CPU the runner warns instead.

    Args:
        model: the ``openvino.Model`` the runner compiles.
    """
    if not amx_in_use():
        return None
    for op in model.get_ordered_ops():
        shape = (
            op.input(1).get_partial_shape() if op.get_type_name() == "GroupConvolution" else None
        )
        if shape is None or shape.is_dynamic or len(shape) != 5:
            continue
        groups, _, in_g, *kernel = (d.get_length() for d in shape)
        if _bad_for_amx(groups, in_g, tuple(kernel)):
            return (
                f"OpenVINO's AMX kernel computes INT8 grouped 1x1 convolutions with {in_g} "
                f"input channels per group wrongly ({op.get_friendly_name()}); run the Q/DQ "
                "ONNX file on OpenVINO instead (deploykit rewrites it when it loads it)"
            )
    return None


def amx_in_use() -> bool:
    """Whether oneDNN runs AMX-INT8 kernels here: an AMX CPU, not capped below AMX by
    ``ONEDNN_MAX_CPU_ISA`` (or ``DNNL_MAX_CPU_ISA``)."""
    from deploykit.host import cpu_flags

    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL"
    return "amx_int8" in cpu_flags() and (cap.upper() in ("ALL", "DEFAULT") or "AMX" in cap.upper())


def patched_model(
    path: Path | str, serialized: bytes | None, options: Any
) -> tuple[bytes | None, dict[str, Any]]:
    """The model OpenVINO should compile for an INT8 Q/DQ ONNX artifact, and what changed.

    Args:
        path: the artifact.
        serialized: the model as the runner has rewritten it so far, or None for the file.
        options: the runner's ``RunnerOptions`` (only INT8 artifacts are looked at).

    Returns:
        The serialized model (``serialized`` as given when nothing was rewritten) and
        ``{"openvino_workarounds": counts}`` for the runner's details when something was.
    """
    if options.precision != "int8" or Path(path).suffix != ".onnx":
        return serialized, {}
    import onnx

    model = onnx.load(str(path)) if serialized is None else onnx.load_from_string(serialized)
    counts = avoid_cpu_bugs(model, amx_in_use())
    if not counts:
        return serialized, {}
    return model.SerializeToString(), {"openvino_workarounds": counts}
