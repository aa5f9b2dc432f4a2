"""Load-time re-encoding of symmetric INT8 activations as UINT8 with zero point 128.

deploykit's INT8 artifact is symmetric (activation zero point 0), which is what
TensorRT wants. x86 INT8 kernels (VNNI's ``VPDPBUSD``, AVX2's ``VPMADDUBSW``)
multiply *unsigned* activations by signed weights: ONNX Runtime only fuses
Q/DQ Convs into integer kernels for uint8 activations on x86 (its
``session.qdqisint8allowed`` switch, off on x86, exists for ARM and for saving
ORT-format models; on x86 it leaves the symmetric file slower than FP32), and
oneDNN in OpenVINO adds a shift-and-compensate step for signed sources.

A symmetric int8 activation (scale s, zero point 0) is exactly a uint8
activation with scale s and zero point 128: ``q_u8 = clamp(round(x / s) + 128,
0, 255) = q_s8 + 128`` and ``(q_u8 - 128) * s = q_s8 * s``. So CPU runners
rewrite those Q/DQ pairs in memory when they open the file; weights (int8
initializers behind a DequantizeLinear) keep their per-channel symmetric int8
encoding, and the file on disk is untouched.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploykit.errors import InputError

OPTION = "reencode"  # RunnerOptions.extra key: false keeps the file's symmetric int8 activations
X86 = ("x86_64", "amd64", "i686", "x86")


@dataclass(frozen=True)
class Reencoded:
    """What :func:`reencode_activations` changed.

    Attributes:
        pairs: activation QuantizeLinear nodes rewritten (each with its DequantizeLinear consumers).
        dequantize: DequantizeLinear nodes rewritten.
        skipped: symmetric int8 Q nodes left alone (an int8 tensor read by something else).
    """

    pairs: int
    dequantize: int
    skipped: int


def _int8_zero(initializers: dict[str, Any], node: Any) -> bool:
    """True when ``node``'s zero point is an int8 initializer holding only zeros (or absent)."""
    import onnx
    from onnx import numpy_helper

    if len(node.input) < 3 or not node.input[2]:
        # No zero point: ONNX defaults to uint8 zero point 0, not the int8 case.
        return False
    zp = initializers.get(node.input[2])
    if zp is None or zp.data_type != onnx.TensorProto.INT8:
        return False
    return not numpy_helper.to_array(zp).any()


def reencode_activations(model: Any) -> Reencoded:
    """Rewrite ``model`` (an ``onnx.ModelProto``, in place) to uint8 zero-point-128 activations.

    A QuantizeLinear of a computed tensor with an int8 zero point of 0 is
    rewritten together with its consumers when every consumer is a
    DequantizeLinear with the same scale and zero point and the int8 tensor is
    not a graph output; anything else is left as it is (and counted as skipped).
    Each rewritten pair gets its own uint8 zero-point initializer.
    """
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    pairs = dequantize = skipped = 0
    for node in list(graph.node):
        if node.op_type != "QuantizeLinear" or node.input[0] in initializers:
            continue
        if not _int8_zero(initializers, node):
            continue
        readers = consumers.get(node.output[0], [])
        if (
            node.output[0] in outputs
            or not readers
            or any(
                r.op_type != "DequantizeLinear" or list(r.input[1:3]) != list(node.input[1:3])
                for r in readers
            )
        ):
            skipped += 1
            continue
        zp = numpy_helper.to_array(initializers[node.input[2]])
        name = f"{node.output[0]}_zero_point_u8"
        graph.initializer.append(
            numpy_helper.from_array(np.full(zp.shape, 128, dtype=np.uint8), name)
        )
        for target in (node, *readers):
            target.input[2] = name
        pairs += 1
        dequantize += len(readers)
    return Reencoded(pairs, dequantize, skipped)


def _switch(options: Any) -> bool:
    """The ``reencode`` runner option as a boolean (default true).

    Raises:
        InputError: for a value that is not a boolean.
    """
    choice = options.extra.get(OPTION, True)
    if isinstance(choice, bool):
        return choice
    lowered = str(choice).strip().lower()
    if lowered not in ("true", "false", "1", "0"):
        raise InputError(
            f"runner option {OPTION}={choice!r} is not a boolean", f"use {OPTION}=false"
        )
    return lowered in ("true", "1")


def reencoded_model(path: Path | str, options: Any) -> tuple[bytes | None, dict[str, Any]]:
    """The re-encoded model's bytes for a CPU runner, or None to open the file as it is.

    Only INT8 artifacts (``options.precision``, from the manifest) on x86 CPUs
    are read and rewritten; the ``reencode=false`` runner option turns it off.

    Args:
        path: the ONNX artifact.
        options: the runner's ``RunnerOptions``.

    Returns:
        The serialized model (None when nothing was rewritten) and what to add
        to the runner's details: ``{"activation_reencode": {"ran": ..., ...}}``
        for INT8 artifacts, nothing for others.
    """
    if options.precision != "int8":
        return None, {}
    if not _switch(options):
        return None, {"activation_reencode": {"ran": False, "reason": f"{OPTION}=false"}}
    if platform.machine().lower() not in X86:
        return None, {"activation_reencode": {"ran": False, "reason": "not an x86 CPU"}}
    import onnx

    model = onnx.load(str(path))
    done = reencode_activations(model)
    record: dict[str, Any] = {"ran": done.pairs > 0, **asdict(done)}
    if not done.pairs:
        record["reason"] = "no symmetric int8 activations"
        return None, {"activation_reencode": record}
    record["encoding"] = "uint8, zero point 128"
    return model.SerializeToString(), {"activation_reencode": record}
