"""Measure one (subject, backend) group: open the runner, score accuracy once, time each batch.

This is the code that runs inside an isolated worker process (see
:mod:`deploykit.bench.isolation`); it reports each step as an event so the
parent knows which cell was running when a runtime crashed or hung.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.bench.environment import command_output
from deploykit.bench.probe import measure_probe
from deploykit.bench.stats import pack_bits, wilson_interval
from deploykit.bench.subjects import Subject
from deploykit.bench.timing import TimingConfig, measure_runner
from deploykit.metrics import label_classes, topk_accuracy
from deploykit.runners import Runner, RunnerOptions, open_runner

Event = dict[str, Any]
Report = Callable[[Event], None]


@dataclass(frozen=True)
class GroupPlan:
    """What to measure for one (subject, backend).

    Attributes:
        backend: runner backend name.
        batches: batch sizes to time, in order.
        timing: warm-up and iteration settings.
        threads: intra-op threads (None: the backend's default).
        runner_extra: backend options.
        eval_batch: batch size of the accuracy pass.
        accuracy: score accuracy first (False when an earlier attempt already did).
    """

    backend: str
    batches: tuple[int, ...]
    timing: TimingConfig
    threads: int | None
    runner_extra: dict[str, Any]
    eval_batch: int
    accuracy: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batches": list(self.batches)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupPlan:
        return cls(
            backend=data["backend"],
            batches=tuple(data["batches"]),
            timing=TimingConfig(**data["timing"]),
            threads=data["threads"],
            runner_extra=dict(data["runner_extra"]),
            eval_batch=int(data["eval_batch"]),
            accuracy=bool(data.get("accuracy", True)),
        )


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux: ``VmHWM`` of /proc/self/status, which starts afresh at exec (``ru_maxrss``
    would include the parent's memory at fork time). Elsewhere ``ru_maxrss``
    (KiB on Linux, bytes on macOS).
    """
    try:
        status = Path("/proc/self/status").read_text()
        kib = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")
        )
        return round(kib / 2**10, 1)
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if os.uname().sysname == "Darwin" else 2**10), 1)


def gpu_memory_mib(pid: int) -> float | None:
    """GPU memory this process holds, as nvidia-smi reports it (None without a driver)."""
    out = command_output(
        "nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"
    )
    if out is None:
        return None
    used = [
        float(m)
        for p, m in (line.split(",") for line in out.splitlines() if "," in line)
        if p.strip() == str(pid)
    ]
    return sum(used) if used else None


def accuracy_record(logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Top-1/top-5 with Wilson 95 % intervals and packed per-image top-1 correctness."""
    n = int(np.sum(labels >= 0))
    correct = logits.argmax(1) == labels
    record: dict[str, Any] = {
        "n": n,
        "outputs": int(logits.shape[1]),
        "classes": label_classes(labels),
    }
    for k in (1, 5):
        value = topk_accuracy(logits, labels, k) if n else None  # no labels: no accuracy, not NaN
        record[f"top{k}"] = value
        record[f"top{k}_ci"] = list(wilson_interval(round(value * n), n)) if n else None
    record["correct"] = pack_bits(correct)
    return record


def _memory(runner: Runner) -> dict[str, Any]:
    """Peak host memory, and the device memory the runner reports (else nvidia-smi's figure)."""
    memory: dict[str, Any] = {"peak_rss_mib": peak_rss_mib()}
    gpu = runner.gpu_memory_mib
    if gpu is None and runner.device == "cuda":
        gpu = gpu_memory_mib(os.getpid())
    if gpu is not None:
        memory["gpu_mib"] = gpu
    return memory


def measure_group(
    subject: Subject, x: np.ndarray, labels: np.ndarray, plan: GroupPlan, report: Report
) -> None:
    """Run ``plan`` on ``subject``; every result goes to ``report`` as an event.

    Events, in order: ``{"phase": "open"}``; ``{"phase": "accuracy", "accuracy",
    "runner", "logits"}`` (when ``plan.accuracy``); then per batch ``{"phase":
    "timing", "batch"}`` followed by ``{"phase": "cell", "batch", "latency",
    "runner", "memory", "wall_s", "probe"}`` (``probe``: the machine-speed probe timed in
    this process just before the cell, see :mod:`deploykit.bench.probe`). Exceptions
    propagate: the caller decides what a failure costs.

    Args:
        subject: the resolved item.
        x: prepared model input (NCHW float32) for the accuracy pass and timing samples.
        labels: labels of ``x``.
        plan: what to measure.
        report: receives each event.
    """
    options = RunnerOptions(plan.threads, subject.precision, dict(plan.runner_extra))
    report({"phase": "open"})
    with open_runner(plan.backend, subject.target, subject.spec, options) as runner:
        if plan.accuracy:
            step = plan.eval_batch
            logits = np.concatenate([runner.infer(x[i : i + step]) for i in range(0, len(x), step)])
            report(
                {
                    "phase": "accuracy",
                    "accuracy": accuracy_record(logits, labels),
                    "runner": asdict(runner.info),
                    "logits": logits,
                }
            )
        for batch in plan.batches:
            report({"phase": "timing", "batch": batch})
            began = time.perf_counter()
            probe = measure_probe()  # the machine's speed right now, in this process
            sample = np.resize(x, (batch, *x.shape[1:]))
            stats = measure_runner(runner, sample, plan.timing)
            info = asdict(runner.info)
            report(
                {
                    "phase": "cell",
                    "batch": batch,
                    "latency": stats.to_dict(),
                    "runner": info,
                    "memory": _memory(runner),
                    "wall_s": round(time.perf_counter() - began, 3),
                    "probe": probe,
                }
            )
