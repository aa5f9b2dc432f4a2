"""Load-time re-encoding of symmetric INT8 activations as UINT8 for x86 CPU runtimes.

deploykit's INT8 artifact is symmetric (activation zero point 0), which is what
TensorRT wants. x86 INT8 kernels (VNNI's ``VPDPBUSD``, AVX2's ``VPMADDUBSW``)
multiply *unsigned* activations by signed weights: ONNX Runtime only fuses
Q/DQ Convs into integer kernels for uint8 activations on x86 (its
``session.qdqisint8allowed`` switch, off on x86, exists for ARM and for saving
ORT-format models; on x86 it leaves the symmetric file slower than FP32), and
oneDNN in OpenVINO adds a shift-and-compensate step for signed sources.

Three encodings (runner option ``reencode``), all with the file's scales ``s``:

- ``exact``: every activation becomes uint8 with zero point 128. ``q_u8 =
  clamp(round(x / s) + 128, 0, 255) = q_s8 + 128`` and ``(q_u8 - 128) * s =
  q_s8 * s``: the dequantized values are identical, saturation included.
- ``fast`` (ONNX Runtime's default): activations that cannot be negative (the
  output of a ReLU, of a Clip with a lower bound of 0, and what pooling,
  reshaping or concatenating such tensors gives) become uint8 with zero point
  **0**, the others uint8 with zero point 128.
- ``nonnegative`` (OpenVINO's default): the non-negative activations as in
  ``fast``; the others stay symmetric int8, which oneDNN runs without the
  compensation a zero point of 128 costs it.

Where zero point 0 can differ from the file: for ``x >= 0``, ``clamp(round(x
/ s), 0, 255)`` equals the int8 code ``clamp(round(x / s), -128, 127)``
wherever ``x < 127.5 * s``; from there up the int8 file saturates at ``127 *
s`` and the uint8 tensor keeps the value up to ``255 * s``. ``127 * s`` is the
largest value calibration saw (minmax, on the FP32 graph), so outputs differ
only for images that drive one of those activations past it (quantization
error upstream can do that by a step; percentile and entropy calibration clip
on purpose). A zero point of 0 lets ONNX Runtime drop the ReLU into the
quantization (its ReluQuantFusion) and fuse Conv, ReLU and requantization
into one integer kernel, and it is what OpenVINO's own quantizer (NNCF) gives
ReLU outputs. Two exact simplifications run first so that the pattern appears
(:func:`simplify`): a Clip(0, c) read only by symmetric Qs with ``round(c / s)
>= 127`` is a ReLU for those Qs, and a Q/DQ pair in front of a ReLU whose
output Q has the same scale and zero point is redundant (``Q(relu(DQ(Q(x))))
= Q(relu(x))``).

Weights (int8 initializers behind a DequantizeLinear) keep their per-channel
symmetric int8 encoding, and the file on disk is untouched.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploykit.errors import InputError
from deploykit.target_options import REENCODE_MODES
from deploykit.targets import BACKENDS

OPTION = "reencode"  # RunnerOptions.extra key: a mode, true (the runner's default) or false
MODES = REENCODE_MODES
ENCODINGS = {
    "exact": "uint8, zero point 128",
    "fast": "uint8: zero point 0 for non-negative tensors, 128 for the others",
    "nonnegative": "uint8 zero point 0 for non-negative tensors, the others int8 as written",
}
# Each CPU runner's mode when the option is not given (what measured fastest on it), as the
# capability table declares it.
RUNNER_DEFAULTS = {
    b.name: b.option(OPTION).default
    for b in BACKENDS.values()
    if any(o.key == OPTION for o in b.options)
}
X86 = ("x86_64", "amd64", "i686", "x86")
# Ops whose output is >= 0 whenever their data inputs are (data inputs: all for
# Concat/Add/Mul/Max/Min, the first for the others).
KEEPS_SIGN = {
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax",
    "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Resize", "Expand",
    "Concat", "Add", "Mul", "Max", "Min",
}  # fmt: skip
ALL_INPUTS = {"Concat", "Add", "Mul", "Max", "Min"}
NONNEGATIVE = {"Relu", "Sigmoid", "HardSigmoid", "Softmax", "Abs"}


@dataclass(frozen=True)
class Reencoded:
    """What :func:`reencode_activations` changed.

    Attributes:
        pairs: activation QuantizeLinear nodes rewritten (each with its DequantizeLinear consumers).
        dequantize: DequantizeLinear nodes rewritten.
        skipped: symmetric int8 Q nodes left alone (an int8 tensor read by something else).
        clips: Clip(0, c) nodes turned into ReLUs by :func:`simplify` (``fast``; exact).
        dropped: redundant Q/DQ pairs in front of a ReLU removed by :func:`simplify` (``fast``; exact).
        unsigned: the float tensors whose Q now has zero point 0 (``fast``): the only places
            where values from ``127.5 * s`` up can differ from the file.
    """

    pairs: int
    dequantize: int
    skipped: int
    clips: int = 0
    dropped: int = 0
    unsigned: tuple[str, ...] = ()


class _Graph:
    """Initializers, producers and readers of an ONNX graph by tensor name (kept current)."""

    def __init__(self, model: Any) -> None:
        self.graph = model.graph
        self.init = {i.name: i for i in self.graph.initializer}
        self.outputs = {o.name for o in self.graph.output}
        self.refresh()

    def refresh(self) -> None:
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.readers: dict[str, list[Any]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.readers.setdefault(name, []).append(node)

    def array(self, name: str) -> Any:
        from onnx import numpy_helper

        return numpy_helper.to_array(self.init[name]) if name in self.init else None

    def symmetric_q(self, node: Any) -> bool:
        """Whether ``node`` quantizes a computed tensor to int8 with zero point 0."""
        import onnx

        if node.op_type != "QuantizeLinear" or node.input[0] in self.init:
            return False
        if len(node.input) < 3 or node.input[2] not in self.init:
            return False  # no zero point: ONNX defaults to uint8 zero point 0, not the int8 case
        zp = self.init[node.input[2]]
        return zp.data_type == onnx.TensorProto.INT8 and not self.array(node.input[2]).any()

    def same_params(self, a: Any, b: Any) -> bool:
        """Whether two Q/DQ nodes have equal scales and zero points (by value)."""
        import numpy as np

        return all(
            np.array_equal(self.array(x), self.array(y)) and self.array(x) is not None
            for x, y in zip(a.input[1:3], b.input[1:3], strict=True)
        )

    def pair_readers(self, q: Any) -> list[Any] | None:
        """The DequantizeLinear readers of ``q`` when they are all its readers, else None."""
        readers = self.readers.get(q.output[0], [])
        if q.output[0] in self.outputs or not readers:
            return None
        if any(
            r.op_type != "DequantizeLinear" or list(r.input[1:3]) != list(q.input[1:3])
            for r in readers
        ):
            return None
        return readers

    def only_readers_are_symmetric_q(self, tensor: str) -> list[Any]:
        """The Q nodes reading ``tensor`` if all its readers are symmetric int8 Qs, else []."""
        readers = self.readers.get(tensor, [])
        if tensor in self.outputs or not readers or not all(map(self.symmetric_q, readers)):
            return []
        return readers


def _clips_to_relus(g: _Graph) -> int:
    """Turn each Clip(0, c) that only feeds symmetric Qs with ``round(c / s) >= 127`` into a Relu.

    For such a Q every ``x >= c`` quantizes to 127 with or without the Clip
    (rounding is monotonic and the Q saturates at 127), so the Relu is exact.
    """
    import numpy as np

    changed = 0
    for node in g.graph.node:
        if node.op_type != "Clip" or len(node.input) < 2 or node.attribute:
            continue
        low = g.array(node.input[1]) if node.input[1] else None
        high = g.array(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if low is None or low.size != 1 or float(low) != 0.0:
            continue
        readers = g.only_readers_are_symmetric_q(node.output[0])
        scales = [g.array(q.input[1]) for q in readers]
        if not readers or any(s is None or s.size != 1 for s in scales):
            continue
        if high is not None and any(
            np.round(np.float32(high) / np.float32(s)) < 127 for s in scales
        ):
            continue
        node.op_type = "Relu"
        del node.input[1:]
        changed += 1
    return changed


def _drop_pairs_before_relus(g: _Graph) -> int:
    """Bypass Q/DQ pairs in front of a Relu whose readers are Qs of the same scale and zero point.

    ``Q(relu(DQ(Q(x)))) = max(clamp(round(x / s), -128, 127), 0) = Q(relu(x))``
    (``q * s / s`` is ``q`` again in float32 for ``|q| <= 128``).
    """
    dropped = 0
    for relu in list(g.graph.node):
        if relu.op_type != "Relu":
            continue
        dq = g.producer.get(relu.input[0])
        if dq is None or dq.op_type != "DequantizeLinear" or dq.output[0] in g.outputs:
            continue
        if len(g.readers[dq.output[0]]) != 1:
            continue
        q = g.producer.get(dq.input[0])
        if q is None or not g.symmetric_q(q) or g.pair_readers(q) != [dq]:
            continue
        after = g.only_readers_are_symmetric_q(relu.output[0])
        if not after or not all(g.same_params(r, q) for r in after):
            continue
        relu.input[0] = q.input[0]
        g.graph.node.remove(dq)
        g.graph.node.remove(q)
        g.refresh()
        dropped += 1
    return dropped


def _nonnegative(g: _Graph) -> set[str]:
    """Tensors that cannot hold negative values (graph order is topological)."""
    known: set[str] = set()

    def nonneg(name: str) -> bool:
        value = g.array(name)
        return name in known or (value is not None and value.size > 0 and value.min() >= 0)

    for node in g.graph.node:
        op = node.op_type
        data = [i for i in node.input if i] if op in ALL_INPUTS else node.input[:1]
        clipped = op == "Clip" and len(node.input) > 1 and nonneg(node.input[1])
        kept = op in KEEPS_SIGN and data and all(map(nonneg, data))
        if op in NONNEGATIVE or clipped or kept:
            known.update(node.output)
        elif op == "DequantizeLinear" and node.input[0] in g.producer:
            q = g.producer[node.input[0]]
            if g.symmetric_q(q) and q.input[0] in known:
                known.add(node.output[0])
    return known


def simplify(model: Any) -> tuple[int, int]:
    """Apply the two exact simplifications of ``fast`` to ``model`` (in place).

    Clip(0, c) nodes that only feed symmetric Qs with ``round(c / s) >= 127``
    become ReLUs, then Q/DQ pairs in front of a ReLU whose output Q has the same
    scale are bypassed; the outputs stay bit-identical.

    Returns:
        How many Clips became ReLUs and how many Q/DQ pairs were removed.
    """
    g = _Graph(model)
    return _clips_to_relus(g), _drop_pairs_before_relus(g)


def reencode_activations(model: Any, mode: str = "fast") -> Reencoded:
    """Rewrite ``model`` (an ``onnx.ModelProto``, in place) to uint8 activations.

    A QuantizeLinear of a computed tensor with an int8 zero point of 0 is
    rewritten together with its consumers when every consumer is a
    DequantizeLinear with the same scale and zero point and the int8 tensor is
    not a graph output; anything else is left as it is (and counted as skipped).
    Each rewritten pair gets its own uint8 zero-point initializer.

    Args:
        model: the Q/DQ model.
        mode: ``exact``, ``fast`` or ``nonnegative`` (see the module docstring; the
            last two run :func:`simplify` first).
    """
    import numpy as np
    from onnx import numpy_helper

    clips, dropped = simplify(model) if mode != "exact" else (0, 0)
    g = _Graph(model)
    nonnegative = _nonnegative(g) if mode != "exact" else set()
    pairs = dequantize = skipped = 0
    unsigned: list[str] = []
    for node in list(g.graph.node):
        if not g.symmetric_q(node):
            continue
        readers = g.pair_readers(node)
        if readers is None:
            skipped += 1
            continue
        zero = 0 if node.input[0] in nonnegative else 128
        if zero and mode == "nonnegative":
            continue
        name = f"{node.output[0]}_zero_point_u8"
        shape = g.array(node.input[2]).shape
        g.graph.initializer.append(
            numpy_helper.from_array(np.full(shape, zero, dtype=np.uint8), name)
        )
        for target in (node, *readers):
            target.input[2] = name
        pairs += 1
        dequantize += len(readers)
        if zero == 0:
            unsigned.append(node.input[0])
    return Reencoded(pairs, dequantize, skipped, clips, dropped, tuple(unsigned))


def reencode_mode(options: Any, default: str) -> str:
    """The ``reencode`` runner option as a mode, ``""`` when off.

    Args:
        options: the runner's ``RunnerOptions``.
        default: the runner's mode for ``true`` or no option.

    Raises:
        InputError: for a value that is no mode and no boolean.
    """
    choice = str(options.extra.get(OPTION, True)).strip().lower()
    if choice in MODES:
        return choice
    if choice in ("true", "1", "false", "0"):
        return default if choice in ("true", "1") else ""
    raise InputError(
        f"runner option {OPTION}={options.extra[OPTION]!r} is not one of "
        f"{', '.join(MODES)}, true or false",
        f"use {OPTION}=exact for bit-exact activations, {OPTION}=false for the file as written",
    )


def reencoded_model(
    path: Path | str, options: Any, default: str
) -> tuple[bytes | None, dict[str, Any]]:
    """The re-encoded model's bytes for a CPU runner, or None to open the file as it is.

    Only INT8 ONNX artifacts (``options.precision``, from the manifest) on x86
    CPUs are read and rewritten; the ``reencode`` runner option picks the mode
    or turns it off (``false``).

    Args:
        path: the ONNX artifact.
        options: the runner's ``RunnerOptions``.
        default: the runner's mode (one of ``MODES``).

    Returns:
        The serialized model (None when nothing was rewritten) and what to add
        to the runner's details: ``{"activation_reencode": {"ran": ..., ...}}``
        for INT8 artifacts, nothing for others.
    """
    if options.precision != "int8" or Path(path).suffix != ".onnx":
        return None, {}
    mode = reencode_mode(options, default)
    if not mode:
        return None, {"activation_reencode": {"ran": False, "reason": f"{OPTION}=false"}}
    if platform.machine().lower() not in X86:
        return None, {"activation_reencode": {"ran": False, "reason": "not an x86 CPU"}}
    import onnx

    model = onnx.load(str(path))
    done = reencode_activations(model, mode)
    record: dict[str, Any] = {"ran": bool(done.pairs or done.dropped), "mode": mode}
    record.update(asdict(done), unsigned=len(done.unsigned))
    if not record["ran"]:
        record["reason"] = "no symmetric int8 activations"
        return None, {"activation_reencode": record}
    record["encoding"] = ENCODINGS[mode]
    return model.SerializeToString(), {"activation_reencode": record}
