"""Per-layer latency: runtime kernels attributed to source nodes, and the sum checked.

Each profiler (ONNX Runtime, OpenVINO, TensorRT) reports :class:`Kernel`
records in its own names. :func:`attribute` turns them into rows keyed by
source node: a kernel resolving to several source nodes is a fused group whose
time goes on its head node (its first weighted op) with the members listed; a
kernel the runtime added on its own (a layout Transpose, a Reorder) inherits
the node of its neighbour in the runtime graph; what still resolves to nothing
goes into the ``unattributed`` row with the kernel names. The sum of kernel
times is compared with the end-to-end median, and the ratio is reported.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deploykit.layers.graph import Attribution, Graph, head_of


@dataclass
class Kernel:
    """One kernel of a runtime's executed graph.

    Attributes:
        name: the runtime's name for it.
        ms: median time per inference.
        names: names that may lead to source nodes (its own, original layer names, outputs).
        op: the runtime's op or layer type.
        precision: the precision it ran in, when the runtime says.
        neighbors: runtime names of adjacent kernels, producers first.
    """

    name: str
    ms: float
    names: list[str]
    op: str = ""
    precision: str | None = None
    neighbors: list[str] = field(default_factory=list)


@dataclass
class Profile:
    """What a profiler measured: kernels and the end-to-end median of unprofiled runs."""

    kernels: list[Kernel]
    e2e_median_ms: float
    runs: int
    details: dict[str, Any] = field(default_factory=dict)


def interleaved_median_ms(
    plain: Callable[[], Any], profiled: Callable[[], Any], runs: int, warmup: int = 3
) -> float:
    """Median wall time of ``plain()`` in ms, its runs alternating with ``profiled()`` ones.

    Alternating keeps a busy machine's load changes out of the ratio of the per-layer
    sum (from the profiled runs) to the end-to-end median (from the plain ones).
    """
    for _ in range(warmup):
        plain()
        profiled()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        plain()
        times.append((time.perf_counter() - start) * 1e3)
        profiled()
    return statistics.median(times)


def attribute(
    profile: Profile, attribution: Attribution
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Rows ``{node: latency}``, the unattributed row and the summary for one backend."""
    owner: dict[str, list[str]] = {}
    for kernel in profile.kernels:
        owner[kernel.name] = _with_fused_producer(
            attribution.source, attribution.resolve_all(kernel.names), kernel.op
        )
    for _ in range(3):  # runtime-made kernels take their neighbour's head
        for kernel in profile.kernels:
            if not owner[kernel.name]:
                near = [owner.get(n) for n in kernel.neighbors]
                found = next((o for o in near if o), None)
                if found:
                    owner[kernel.name] = [head_of(attribution.source, found)]
    rows: dict[str, dict[str, Any]] = {}
    lost: list[Kernel] = []
    for kernel in profile.kernels:
        members = owner[kernel.name]
        if not members:
            lost.append(kernel)
            continue
        head = head_of(attribution.source, members)
        row = rows.setdefault(head, {"ms": 0.0, "members": [], "kernels": [], "precision": []})
        row["ms"] += kernel.ms
        row["members"] += [m for m in members if m not in row["members"]]
        row["kernels"].append(kernel.name)
        if kernel.precision and kernel.precision not in row["precision"]:
            row["precision"].append(kernel.precision)
    total = sum(k.ms for k in profile.kernels)
    e2e = profile.e2e_median_ms
    for row in rows.values():
        row["share"] = row["ms"] / e2e if e2e else None
        row["precision"] = ",".join(row["precision"]) or None
        if row["members"] == [] or len(row["members"]) == 1:
            row["members"] = []
    lost_ms = sum(k.ms for k in lost)
    load = machine_load()
    unattributed = {
        "ms": lost_ms,
        "share": lost_ms / e2e if e2e else None,
        "kernels": [k.name for k in lost],
        "gap_ms": e2e - total,
        "why": _why(lost, e2e - total, load),
    }
    summary = {
        "e2e_median_ms": e2e,
        "layer_sum_ms": total,
        "ratio": total / e2e if e2e else None,
        "runs": profile.runs,
        **load,
        **profile.details,
    }
    return rows, unattributed, summary


def base_op(op: str) -> str:
    """A runtime kernel type as the ONNX op it implements (``FusedConv``, ``QLinearConv`` -> Conv)."""
    for prefix in ("Fused", "QLinear", "Q"):
        if op.startswith(prefix) and op[len(prefix) :][:1].isupper():
            return op[len(prefix) :]
    return op


def _with_fused_producer(source: Graph, members: list[str], op: str, hops: int = 3) -> list[str]:
    """Members plus the producer the kernel type says was fused in front of them.

    ORT names a Conv+ReLU kernel after its output (``relu_2_nchwc``), which resolves to
    the ReLU alone; the kernel's type says a Conv ran, so the Conv feeding it joins.
    """
    wanted = base_op(op)
    if not members or not wanted or any(source.op(m) == wanted for m in members):
        return members
    chain, node = [], members[0]
    for _ in range(hops):
        feeds = source.activations(node)
        node = source.producer.get(feeds[0]) if feeds else None
        if node is None:
            return members
        chain.insert(0, node)
        if source.op(node) == wanted:
            return [*chain, *members]
    return members


def machine_load() -> dict[str, float]:
    """The 1-minute load average and the CPU count, recorded beside every latency figure."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # not on every platform
        return {}
    return {"load_average": round(load, 1), "cpus": os.cpu_count() or 1}


def _why(lost: list[Kernel], gap: float, load: dict[str, float]) -> str:
    parts = []
    if lost:
        names = ", ".join(k.name for k in lost[:4]) + (" ..." if len(lost) > 4 else "")
        parts.append(f"{len(lost)} kernels name no source node ({names})")
    if gap > 0:
        parts.append(
            f"{gap:.3f} ms per inference is spent outside any kernel (input/output copies, "
            "thread hand-offs, the runtime's own scheduling)"
        )
        if load and load["load_average"] > load["cpus"]:
            parts.append(
                f"the machine's load average was {load['load_average']:g} on {load['cpus']} "
                "CPUs, so the runtime also waited for a CPU between kernels"
            )
    elif gap < 0:
        parts.append(
            f"kernels sum to {-gap:.3f} ms more than the end-to-end median: profiled runs are "
            "slower than unprofiled ones, or kernels overlap in time"
        )
    return "; ".join(parts)
