"""Crash isolation: each (item, backend) group is measured in its own worker process.

The worker (:mod:`deploykit.bench.worker`) reports every step as it happens. A
segfault, an abort, a hang (no progress for ``timeout_s``) or an out-of-memory
kill therefore costs the one cell that was running: the cells already measured
are kept, the failed cell gets the reason (signal name, "timed out after N s"),
and a fresh worker measures the batch sizes still to do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.bench.cells import GroupPlan
from deploykit.bench.worker import failure_reason, traceback_tail
from deploykit.errors import DataMismatchError
from deploykit.metrics import check_labels_fit

POLL_S = 0.05
# Same as ``python -m deploykit.bench.worker``, without runpy importing the module twice.
WORKER_CODE = "import sys; from deploykit.bench.worker import main; sys.exit(main())"


@dataclass
class GroupOutcome:
    """What one (item, backend) group produced.

    Attributes:
        cells: per batch size, either ``{"status": "ok", "latency", "runner", "memory",
            "wall_s", "probe", "accuracy"}`` or ``{"status": "failed", "error", "traceback"}``
            (the tail of the worker's traceback or stderr, None when there was none).
        accuracy: the accuracy record, when the accuracy pass finished.
        runner: what ran (from the accuracy pass or the first timed cell).
        logits: logits on the evaluation set, when the accuracy pass finished.
    """

    cells: dict[int, dict[str, Any]] = field(default_factory=dict)
    accuracy: dict[str, Any] | None = None
    runner: dict[str, Any] | None = None
    logits: np.ndarray | None = None


class _Tracker:
    """Folds worker events into a :class:`GroupOutcome` and remembers where the worker was."""

    def __init__(
        self, outcome: GroupOutcome, on_cell: Callable[[int, dict], None], item: str
    ) -> None:
        self.outcome = outcome
        self.on_cell = on_cell
        self.item = item
        self.phase = "start"
        self.batch: int | None = None
        self.error: str | None = None
        self.traceback: str | None = None

    def reset(self) -> None:
        """Forget where the previous worker was, before the next one starts."""
        self.phase, self.batch, self.error, self.traceback = "start", None, None, None

    def handle(self, event: dict[str, Any]) -> None:
        phase = event["phase"]
        if phase == "error":
            self.error = event["error"]
            self.traceback = event.get("traceback")
            return
        self.phase = phase
        if phase == "accuracy":
            # Data whose labels the model cannot output ends the run before any timing.
            record = event["accuracy"]
            check_labels_fit(record["outputs"], record["classes"], self.item)
            self.outcome.accuracy = record
            self.outcome.runner = event["runner"]
            if event.get("logits") is not None:
                self.outcome.logits = event["logits"]
        elif phase == "timing":
            self.batch = event["batch"]
        elif phase == "cell":
            cell = {k: event[k] for k in ("latency", "runner", "memory", "wall_s")}
            cell["probe"] = event.get("probe")
            cell["accuracy"] = self.outcome.accuracy
            self.outcome.cells[event["batch"]] = {"status": "ok", **cell}
            self.outcome.runner = self.outcome.runner or event["runner"]
            self.batch = None
            self.on_cell(event["batch"], self.outcome.cells[event["batch"]])

    def fail(self, reason: str, plan: GroupPlan) -> tuple[int, ...]:
        """Record ``reason`` against the cell(s) it cost; return the batch sizes still to run."""
        pending = [b for b in plan.batches if b not in self.outcome.cells]
        if self.phase == "timing" and self.batch is not None:
            lost = [self.batch]
        else:  # the runner never got as far as timing: nothing in this group can run
            lost = pending
        for batch in lost:
            self.outcome.cells[batch] = {
                "status": "failed",
                "error": reason,
                "traceback": self.traceback,
            }
            self.on_cell(batch, self.outcome.cells[batch])
        return tuple(b for b in pending if b not in lost)


def describe_exit(returncode: int, error: str | None, stderr_tail: str) -> str:
    """One line saying why a worker stopped."""
    if error:
        return error
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name == "SIGKILL":
            return "worker killed by SIGKILL (out of memory?)"
        return f"worker crashed with {name}"
    detail = f": {stderr_tail}" if stderr_tail else ""
    return f"worker exited with code {returncode}{detail}"


def _stderr(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _run_worker(job_dir: Path, tracker: _Tracker, timeout_s: float) -> str | None:
    """Run one worker to its end; return a failure reason, or None when it finished cleanly."""
    events_path = job_dir / "events.jsonl"
    stderr_path = job_dir / "stderr.log"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE, str(job_dir)],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,  # a hung worker's children are killed with it
        )
        offset, last_progress, timed_out = 0, time.monotonic(), False
        try:
            while True:
                done = proc.poll() is not None
                offset, progressed = _read_events(events_path, offset, tracker, job_dir)
                if progressed:
                    last_progress = time.monotonic()
                if done:
                    break
                if time.monotonic() - last_progress > timeout_s:
                    timed_out = True
                    _kill(proc)
                    break
                time.sleep(POLL_S)
        except BaseException:
            _kill(proc)  # interrupted: never leave a worker behind
            raise
    _read_events(events_path, offset, tracker, job_dir)
    if timed_out:
        where = f" while timing batch {tracker.batch}" if tracker.phase == "timing" else ""
        return f"timed out after {timeout_s:g} s{where}"
    if proc.returncode == 0 and tracker.error is None:
        return None
    stderr_text = _stderr(stderr_path)
    if tracker.traceback is None and stderr_text.strip():
        # A crash or kill: what the worker printed (the fault handler's stack) is the trace.
        tracker.traceback = traceback_tail(stderr_text)
    return describe_exit(proc.returncode, tracker.error, _last_line(stderr_text))


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _read_events(path: Path, offset: int, tracker: _Tracker, job_dir: Path) -> tuple[int, bool]:
    """Handle complete new lines of ``events.jsonl``; return the new offset and whether any came."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
    except FileNotFoundError:
        return offset, False
    end = chunk.rfind(b"\n") + 1  # a line cut short by a crash is ignored
    progressed = False
    for line in chunk[:end].splitlines():
        event = json.loads(line)
        if event["phase"] == "accuracy" and (job_dir / "logits.npy").is_file():
            event["logits"] = np.load(job_dir / "logits.npy")
        tracker.handle(event)
        progressed = True
    return offset + end, progressed


def run_group_isolated(
    job: dict[str, Any],
    plan: GroupPlan,
    work_dir: Path,
    timeout_s: float,
    on_cell: Callable[[int, dict], None],
) -> GroupOutcome:
    """Measure ``plan`` for ``job["item"]`` in worker processes, one cell lost per crash.

    Args:
        job: ``item``, ``source`` (SourceOptions as JSON) and ``data`` (an ``.npz`` with
            the prepared input ``x`` and ``labels``).
        plan: what to measure.
        work_dir: an empty folder for the job files.
        timeout_s: a worker showing no progress for this long is killed.
        on_cell: called with (batch, cell record) as each cell finishes or fails.
    """
    outcome = GroupOutcome()
    tracker = _Tracker(outcome, on_cell, job["item"])
    attempt, todo = 0, plan
    while todo.batches:
        job_dir = work_dir / f"attempt{attempt}"
        job_dir.mkdir(parents=True)
        # Only the main thread's children may die with it: the kernel signals them
        # when the *thread* that started them exits.
        parent = os.getpid() if threading.current_thread() is threading.main_thread() else None
        (job_dir / "job.json").write_text(
            json.dumps({**job, "plan": todo.to_dict(), "parent": parent})
        )
        tracker.reset()
        reason = _run_worker(job_dir, tracker, timeout_s)
        if reason is None:
            break
        remaining = tracker.fail(reason, todo)
        todo = replace(todo, batches=remaining, accuracy=False)
        attempt += 1
    return outcome


def run_group_inprocess(
    subject,
    x: np.ndarray,
    labels: np.ndarray,
    plan: GroupPlan,
    on_cell: Callable[[int, dict], None],
) -> GroupOutcome:
    """The same measurement in this process (no isolation): for debugging and library use.

    A Python exception costs the cell that raised it, as in a worker; a segfault
    here takes the whole run down, which is why isolation is the default.
    """
    from deploykit.bench.cells import measure_group

    outcome = GroupOutcome()
    tracker = _Tracker(outcome, on_cell, subject.item)
    todo = plan
    while todo.batches:
        tracker.reset()
        try:
            measure_group(subject, x, labels, todo, tracker.handle)
            break
        except DataMismatchError:  # the input does not fit: the run is refused, as isolated
            raise
        except Exception as exc:  # a runtime error costs this cell, not the run
            reason, tracker.traceback = failure_reason(exc), traceback_tail()
        todo = replace(todo, batches=tracker.fail(reason, todo), accuracy=False)
    return outcome
