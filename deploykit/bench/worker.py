"""The isolated measuring process: ``python -m deploykit.bench.worker JOB_DIR``.

``JOB_DIR/job.json`` names the item, how to load it, the prepared input
(an ``.npz`` with ``x`` and ``labels``) and the
:class:`~deploykit.bench.cells.GroupPlan`. Every step is appended to
``JOB_DIR/events.jsonl`` as soon as it happens (logits go to ``logits.npy``),
so when the runtime segfaults, hangs or is killed for memory, the parent knows
what finished and which cell was running.

Backend plugins (``DEPLOYKIT_BENCH_PLUGINS``, see :func:`deploykit.targets.load_plugins`)
are imported first, as in the parent. The tests use this to run deliberately crashing
runners through the real isolation path.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

TRACEBACK_LINES = 30  # how much of a failed cell's traceback the results keep


def source_options_from(data: dict[str, Any]):
    """SourceOptions from its JSON form in a job file."""
    from deploykit.sources import SourceOptions

    return SourceOptions(
        num_classes=data.get("num_classes"),
        weights=Path(data["weights"]) if data.get("weights") else None,
        input_shape=tuple(data["input_shape"]) if data.get("input_shape") else None,
        trust_pickle=bool(data.get("trust_pickle")),
        trust_code=bool(data.get("trust_code")),
        mean=tuple(data["mean"]) if data.get("mean") else None,
        std=tuple(data["std"]) if data.get("std") else None,
        scale=data.get("scale"),
        channels=data.get("channels"),
    )


def failure_reason(exc: Exception) -> str:
    """One line for a failed cell: a user error's message, else the exception's type and first line."""
    from deploykit.errors import DeployKitError

    if isinstance(exc, DeployKitError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def traceback_tail(text: str | None = None, lines: int = TRACEBACK_LINES) -> str:
    """The last ``lines`` lines of ``text`` (default: the exception being handled)."""
    import traceback

    text = traceback.format_exc() if text is None else text
    return "\n".join(text.rstrip().splitlines()[-lines:])


def die_with_parent(parent: int | None) -> None:
    """Have the kernel kill this worker when the bench process dies, even by SIGKILL (Linux).

    Args:
        parent: the bench process id; when it is already gone, exit at once.
    """
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        import contextlib
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        # Without prctl the parent's own cleanup (killpg on exit) still applies.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(3)


def run_job(job_dir: Path) -> int:
    """Run the job in ``job_dir``; return the process exit code (0 ok, 3 error reported).

    Python's fault handler is on, so a crash in a runtime leaves the Python
    stack on stderr, where the parent reads it.
    """
    import faulthandler

    faulthandler.enable()
    events = open(job_dir / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def emit(event: dict[str, Any]) -> None:
        logits = event.pop("logits", None)
        if logits is not None:
            import numpy as np

            np.save(job_dir / "logits.npy", logits)
        events.write(json.dumps(event) + "\n")
        events.flush()  # in the kernel now: survives this process crashing

    try:
        import numpy as np

        from deploykit.bench.cells import GroupPlan, measure_group
        from deploykit.bench.subjects import resolve
        from deploykit.targets import load_plugins

        load_plugins()
        job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
        die_with_parent(job.get("parent"))
        emit({"phase": "start", "pid": os.getpid()})
        subject = resolve(job["item"], source_options_from(job.get("source") or {}))
        # The parent prepared the input for this item's spec once (NCHW float32).
        with np.load(job["data"]) as data:
            x, labels = data["x"], data["labels"]
        measure_group(subject, x, labels, GroupPlan.from_dict(job["plan"]), emit)
        emit({"phase": "done"})
        return 0
    except Exception as exc:  # reported to the parent as this cell's failure reason
        emit({"phase": "error", "error": failure_reason(exc), "traceback": traceback_tail()})
        return 3
    finally:
        events.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m deploykit.bench.worker JOB_DIR", file=sys.stderr)
        return 2
    return run_job(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
