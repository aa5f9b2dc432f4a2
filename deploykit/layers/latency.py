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

# Per-layer timing of one backend stops after TIME_CAP_S once MIN_RUNS runs are done.
TIME_CAP_S = 15.0
MIN_RUNS = 10


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
class Timing:
    """Interleaved plain and profiled runs.

    Attributes:
        e2e_ms: median wall time of a plain (unprofiled) inference.
        profiled_ms: median wall time of a profiled one.
        wait_ms: median time this process's threads spent, summed, waiting on the CPU
            run queue during a plain inference (Linux ``schedstat``; None elsewhere).
        runs: pairs timed.
    """

    e2e_ms: float
    profiled_ms: float
    wait_ms: float | None
    runs: int


@dataclass
class RunTimes:
    """Medians over the profiled runs, in ms.

    Attributes:
        run_ms: the runtime's own time for a whole run, where it reports one (ONNX
            Runtime's ``model_run``): the time between kernels is inside it.
        kernel_sum_ms: the sum of one run's kernel times. It exceeds the sum of each
            kernel's median when preemption lands on different kernels in each run.
    """

    run_ms: float | None = None
    kernel_sum_ms: float | None = None


@dataclass
class Profile:
    """What a profiler measured: kernels, the interleaved timing, and whole-run medians."""

    kernels: list[Kernel]
    timing: Timing
    runs: RunTimes = field(default_factory=RunTimes)
    details: dict[str, Any] = field(default_factory=dict)


def runqueue_wait_ms() -> float | None:
    """Time all threads of this process have waited for a CPU so far (Linux only)."""
    total = 0
    try:
        for task in os.scandir("/proc/self/task"):
            try:
                with open(f"{task.path}/schedstat", encoding="ascii") as stat:
                    total += int(stat.read().split()[1])
            except (OSError, IndexError, ValueError):  # the thread ended meanwhile
                continue
    except OSError:
        return None
    return total / 1e6


def interleaved_timing(
    plain: Callable[[], Any],
    profiled: Callable[[], Any],
    runs: int,
    warmup: int = 3,
    seconds: float = TIME_CAP_S,
) -> Timing:
    """Time ``plain()`` and ``profiled()`` inferences, alternating.

    Alternating keeps a busy machine's load changes out of the ratio of the per-layer
    sum (from the profiled runs) to the end-to-end median (from the plain ones).

    Args:
        plain: one unprofiled inference.
        profiled: one profiled inference.
        runs: pairs timed at most.
        warmup: pairs run first, untimed.
        seconds: timing stops after this long once ``MIN_RUNS`` pairs are done (a 224
            model on a loaded machine takes ~0.5 s a pair).
    """
    for _ in range(warmup):
        plain()
        profiled()
    times: list[float] = []
    waits: list[float] = []
    profiled_times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < runs:
        if len(times) >= MIN_RUNS and time.perf_counter() > deadline:
            break
        waited = runqueue_wait_ms()
        start = time.perf_counter()
        plain()
        middle = time.perf_counter()
        after = runqueue_wait_ms()
        profiled()
        profiled_times.append((time.perf_counter() - middle) * 1e3)
        times.append((middle - start) * 1e3)
        if waited is not None and after is not None:
            waits.append(after - waited)
    wait = statistics.median(waits) if waits else None
    return Timing(statistics.median(times), statistics.median(profiled_times), wait, len(times))


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
    e2e = profile.timing.e2e_ms
    for row in rows.values():
        row["share"] = row["ms"] / e2e if e2e else None
        row["precision"] = ",".join(row["precision"]) or None
        if row["members"] == [] or len(row["members"]) == 1:
            row["members"] = []
    lost_ms = sum(k.ms for k in lost)
    load = machine_load()
    gap = gap_parts(profile, total)
    unattributed = {
        "ms": lost_ms,
        "share": lost_ms / e2e if e2e else None,
        "kernels": [k.name for k in lost],
        **gap,
        "why": gap_reason(lost, gap, load),
    }
    summary = {
        "e2e_median_ms": e2e,
        "layer_sum_ms": total,
        "ratio": total / e2e if e2e else None,
        "runs": profile.timing.runs,
        "profiled_median_ms": profile.timing.profiled_ms,
        **load,
        **profile.details,
    }
    return rows, unattributed, summary


def gap_parts(profile: Profile, kernels_ms: float) -> dict[str, float | None]:
    """Where the end-to-end time outside the per-layer sum went, per inference, in ms.

    The parts add up: ``gap_ms`` (end-to-end median minus the sum of the kernels' medians)
    = ``spread_ms`` + ``between_kernels_ms`` + ``outside_run_ms`` - ``profiling_ms``.

    ``spread_ms``: a typical run's kernel sum minus the sum of the kernels' medians
    (preemption, landing on different kernels each run, which no kernel's median holds);
    ``between_kernels_ms``: inside the runtime's own run but in no kernel (hand-offs,
    scheduling), where the runtime times whole runs; ``outside_run_ms``: the profiled call
    around that (around the kernels where it does not: the two are then one figure);
    ``profiling_ms``: profiled minus plain median; ``runqueue_wait_ms``: this process's
    threads waiting for a CPU during a plain run.
    """
    timing, runs = profile.timing, profile.runs
    run_kernels = runs.kernel_sum_ms
    inner = runs.run_ms if runs.run_ms is not None else run_kernels
    return {
        "gap_ms": timing.e2e_ms - kernels_ms,
        "spread_ms": run_kernels - kernels_ms if run_kernels is not None else None,
        "between_kernels_ms": (
            runs.run_ms - run_kernels
            if runs.run_ms is not None and run_kernels is not None
            else None
        ),
        "outside_run_ms": timing.profiled_ms - inner if inner is not None else None,
        "profiling_ms": timing.profiled_ms - timing.e2e_ms,
        "runqueue_wait_ms": timing.wait_ms,
    }


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


def gap_reason(lost: list[Kernel], gap: dict[str, float | None], load: dict[str, float]) -> str:
    """Why the per-layer sum differs from the end-to-end median, from measured parts.

    Args:
        lost: kernels that name no source node.
        gap: :func:`gap_parts`.
        load: :func:`machine_load`.
    """
    parts = []
    if lost:
        names = ", ".join(k.name for k in lost[:4]) + (" ..." if len(lost) > 4 else "")
        parts.append(f"{len(lost)} kernels name no source node ({names})")
    outside, wait = gap["gap_ms"] or 0.0, gap["runqueue_wait_ms"]
    if outside > 0:
        parts.append(f"{outside:.3f} ms per inference is in no kernel's median time{_where(gap)}")
        if wait is not None:
            on = f" (load average {load['load_average']:g} on {load['cpus']} CPUs)" if load else ""
            verdict = (
                "most of the gap is waiting for CPUs other processes held, not the model"
                if wait >= 0.5 * outside
                else "the gap is the runtime's own (thread hand-offs, scheduling), not contention"
            )
            parts.append(
                f"its threads waited {wait:.3f} ms per inference in the CPU run queue{on}: "
                + verdict
            )
    elif outside < 0:
        parts.append(
            f"kernels sum to {-outside:.3f} ms more than the end-to-end median: a profiled run "
            f"took {gap['profiling_ms']:+.3f} ms against a plain one, or kernels overlap in time"
        )
    return "; ".join(parts)


def _where(gap: dict[str, float | None]) -> str:
    """The measured parts of the gap, as a parenthesis."""
    parts = []
    if gap["spread_ms"] is not None:
        parts.append(
            f"{gap['spread_ms']:.3f} ms kernels ran longer in a typical run than their own "
            "medians: preemption lands on different kernels each run"
        )
    if gap["between_kernels_ms"] is not None:
        parts.append(
            f"{gap['between_kernels_ms']:.3f} ms between kernels inside the runtime's run; "
            f"{gap['outside_run_ms']:.3f} ms around the run (the call, input and output copies)"
        )
    elif gap["outside_run_ms"] is not None:
        parts.append(
            f"{gap['outside_run_ms']:.3f} ms between kernels and around them (this runtime "
            "times no whole run)"
        )
    parts.append(f"profiling itself {gap['profiling_ms']:+.3f} ms")
    return " (" + "; ".join(parts) + ")"
