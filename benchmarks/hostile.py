"""Hostile-input catalogue: bad files, bad options and faults thrown at the real CLI.

Each case runs ``python -m deploykit ...`` in a fresh interpreter (in its own
folder, with its own TMPDIR), as a hostile user or a broken CI runner would, and
checks the promise of issue 12 for it: the exit code, at most 6 lines on stderr,
no traceback, and the case's own check (nothing written outside the output
folder, no input overwritten, no marker file written by an unpickled payload,
no leftovers, no orphan workers, the gate's verdict). A case that breaks the
promise is reported as failing: the table measures the CLI as it is.

    python benchmarks/hostile.py [--only SECTION,...] [--match TEXT] [--jobs N] [--markdown FILE]

Sections: trust (1), writes (2), gate (3), data (4), options (5).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 6
SECTIONS = {"trust": 1, "writes": 2, "gate": 3, "data": 4, "options": 5}


@dataclass
class Outcome:
    """What one CLI run did.

    Attributes:
        code: exit code (negative: killed by that signal).
        stdout, stderr: captured text.
        seconds: wall time.
        case_dir: the folder it ran in (its output folder is ``case_dir / "out"``).
        extra: what a case's ``act`` hook recorded (worker pids, ...).
    """

    code: int
    stdout: str
    stderr: str
    seconds: float
    case_dir: Path
    extra: dict = field(default_factory=dict)

    @property
    def lines(self) -> int:
        return len([line for line in self.stderr.splitlines() if line.strip()])

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr + self.stdout


Check = Callable[[Outcome], "str | None"]


@dataclass
class Case:
    """One hostile input or fault.

    Attributes:
        section: one of ``SECTIONS``.
        name: what is thrown at the CLI.
        argv: the CLI arguments, or a function of the case folder returning them
            (it may write the hostile files there first).
        expect: exit codes that keep the promise (2: bad input, refused in one line).
        check: a further check (None when it holds, else why it does not).
        act: runs beside the process (e.g. sends SIGTERM); gets the Popen and the Outcome extras.
        limit: ulimit -f in bytes for the process, if any.
        timeout: seconds before the run is killed (and counted as failing).
    """

    section: str
    name: str
    argv: list[str] | Callable[[Path], list[str]]
    expect: tuple[int, ...] = (2,)
    check: Check | None = None
    act: Callable[[subprocess.Popen, Path, dict], None] | None = None
    limit: int | None = None
    timeout: float = 180.0


def run_case(case: Case, folder: Path) -> tuple[Outcome, str]:
    """Run ``case`` in ``folder``; return what happened and the verdict (``ok`` or why not)."""
    folder.mkdir(parents=True)
    (folder / "tmp").mkdir()
    try:
        argv = case.argv(folder) if callable(case.argv) else case.argv
    except Exception as exc:  # a catalogue bug, not the CLI's: shown as such
        outcome = Outcome(-1, "", f"catalogue: {type(exc).__name__}: {exc}", 0.0, folder)
        return outcome, f"case setup failed: {type(exc).__name__}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(folder / "tmp")}

    def limits() -> None:
        if case.limit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (case.limit, case.limit))

    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploykit", *map(str, argv)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limits,
        start_new_session=True,
    )
    extra: dict = {}
    if case.act is not None:
        case.act(proc, folder, extra)
    try:
        stdout, stderr = proc.communicate(timeout=case.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        extra["timed_out"] = True
    outcome = Outcome(proc.returncode, stdout, stderr, time.perf_counter() - began, folder, extra)
    return outcome, verdict(case, outcome)


def verdict(case: Case, outcome: Outcome) -> str:
    """``ok`` when the promise holds, else the first way it is broken."""
    if outcome.extra.get("timed_out"):
        return f"hung: killed after {case.timeout:g} s"
    if outcome.traceback:
        return "traceback"
    if outcome.code not in case.expect:
        return f"exit {outcome.code}, expected {' or '.join(map(str, case.expect))}"
    if outcome.code != 0 and outcome.lines > MAX_LINES:
        return f"{outcome.lines} lines on stderr (at most {MAX_LINES})"
    if case.check is not None and (why := case.check(outcome)):
        return why
    return "ok"


def markdown(rows: list[tuple[Case, Outcome, str]], command: str) -> str:
    """The catalogue as a Markdown section (summary, then one row per case)."""
    passed = sum(v == "ok" for _, _, v in rows)
    lines = [
        "## Hostile inputs and faults (issue 12)",
        "",
        f"Command: `{command}`  ",
        f"CPU: {cpu_model()}; load average before the run: {load()}",
        "",
        f"{passed} of {len(rows)} cases keep the promise (exit code as stated, at most "
        f"{MAX_LINES} lines on stderr, no traceback, and the case's own check).",
        "",
        "| # | section | case | exit | lines | s | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, (case, out, why) in enumerate(rows, 1):
        mark = "ok" if why == "ok" else f"**FAIL**: {why}"
        name = case.name.replace("|", "\\|")
        lines.append(
            f"| {i} | {SECTIONS[case.section]} {case.section} | {name} | {out.code} | "
            f"{out.lines} | {out.seconds:.1f} | {mark.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


def cpu_model() -> str:
    try:
        from deploykit.bench.environment import cpu_info

        return cpu_info()["model"]
    except (ImportError, KeyError):
        return platform.processor() or "unknown"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated sections")
    parser.add_argument("--match", default="", help="run only cases whose name contains this")
    parser.add_argument("--markdown", type=Path, help="write the Markdown table here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--jobs", type=int, default=1, help="cases run side by side")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]
    import shutil
    import tempfile

    from hostile_cases import all_cases

    work = Path(tempfile.mkdtemp(prefix="deploykit-hostile-"))
    wanted = {s for s in args.only.split(",") if s}
    cases = [
        c
        for c in all_cases(work / "fixtures")
        if (not wanted or c.section in wanted) and args.match in c.name
    ]
    command = "python benchmarks/hostile.py" + "".join(
        f" {flag} {value}"
        for flag, value in (("--only", args.only), ("--match", args.match), ("--jobs", args.jobs))
        if value not in ("", 1)
    )
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int, case: Case) -> tuple[Case, Outcome, str]:
        outcome, why = run_case(case, work / "cases" / f"{i:03d}")
        last = (outcome.stderr.strip().splitlines() or [""])[-1][:100]
        print(
            f"{i:3d} {case.section:7s} {outcome.code:4d} {outcome.lines:3d} "
            f"{outcome.seconds:6.1f}s {why[:40]:40s} {case.name}  | {last}",
            flush=True,
        )
        return case, outcome, why

    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(one, range(1, len(cases) + 1), cases))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = markdown(rows, command)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
