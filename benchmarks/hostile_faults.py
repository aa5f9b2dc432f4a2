"""Cases of benchmarks/hostile.py for writes and faults (section 2): paths, signals, full disks."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from hostile import Case, Outcome
from hostile_cases import QUICK, SHAPE, Fixtures, sha
from hostile_files import NONZERO

EXPORT = ["export", "demo_resnet", *SHAPE, "--to", "onnx", "-o", "out"]


def leftovers(folder: Path) -> list[str]:
    """Temporary files a dead or interrupted run left in ``folder`` (hidden or ``*.tmp``)."""
    if not folder.is_dir():
        return []
    names = [p.name for p in folder.rglob("*")]
    return [n for n in names if n.startswith(".") or n.endswith(".tmp") or "deploykit-" in n]


def clean_out(out: Outcome) -> str | None:
    left = leftovers(out.case_dir / "out")
    return f"left {', '.join(left[:3])} in -o" if left else None


def wait_for(condition, seconds: float, proc: subprocess.Popen | None = None) -> bool:
    """Poll ``condition`` for up to ``seconds`` (stop early when ``proc`` has ended)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and (proc is None or proc.poll() is None):
        if condition():
            return True
        time.sleep(0.05)
    return False


def _mid_export(proc: subprocess.Popen, folder: Path) -> None:
    """Wait until the export is writing (temporary files in -o), or 10 s at most."""
    wait_for(lambda: bool(leftovers(folder / "out")), 10, proc)


def nothing_escaped(out: Outcome) -> str | None:
    work = out.case_dir.parents[1]
    inside = out.case_dir / "out"
    found = [p for p in work.rglob("escape*") if inside not in p.parents]
    return f"wrote {found[0]}" if found else None


def _term_when_building(proc: subprocess.Popen, folder: Path, extra: dict) -> None:
    """SIGTERM the export while it works (as `timeout` would)."""
    _mid_export(proc, folder)
    proc.send_signal(signal.SIGTERM)


def _term_when_measuring(proc: subprocess.Popen, folder: Path, extra: dict) -> None:
    """SIGTERM bench (the parent only) while a worker process is measuring."""
    import psutil

    parent = psutil.Process(proc.pid)

    def workers() -> list:
        found = []
        try:
            kids = parent.children(recursive=True)
        except psutil.Error:  # bench itself has ended
            return found
        for kid in kids:
            try:
                if "deploykit.bench.worker" in " ".join(kid.cmdline()):
                    found.append(kid)
            except psutil.Error:  # ended (or a zombie) meanwhile
                continue
        return found

    wait_for(lambda: bool(workers()), 60, proc)
    time.sleep(1.0)
    extra["workers"] = [w.pid for w in workers()]
    proc.send_signal(signal.SIGTERM)


def no_orphans(out: Outcome) -> str | None:
    import psutil

    alive = []
    for pid in out.extra.get("workers", []):
        try:
            worker = psutil.Process(pid)
            if worker.status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
                worker.kill()  # the catalogue cleans up after a failing case
        except psutil.Error:
            continue
    left = list((out.case_dir / "tmp").iterdir())
    if alive:
        return f"{len(alive)} worker(s) left running"
    if left:
        return f"left {left[0].name} in TMPDIR"
    return None


def _output_is_input(fx: Fixtures, flag: str, manifest: bool = False):
    def argv(folder: Path) -> list:
        model = fx.copy_onnx(folder)
        target = model.with_suffix(".json") if manifest else model
        (folder / "before.sha").write_text(sha(target))
        (folder / "target").write_text(str(target))
        return ["bench", model, *QUICK, flag, target]

    return argv


def input_intact(out: Outcome) -> str | None:
    target = Path((out.case_dir / "target").read_text())
    return None if sha(target) == (out.case_dir / "before.sha").read_text() else "input overwritten"


def writes_cases(fx: Fixtures) -> list[Case]:
    """Section 2: names stay file names, inputs are never outputs, faults leave nothing behind."""

    def out_is_a_file(folder: Path) -> list:
        (folder / "out").write_text("not a folder")
        return EXPORT

    def taken(folder: Path) -> list:
        (folder / "out" / "demo_resnet.onnx").mkdir(parents=True)
        (folder / "out" / "demo_resnet.json").write_text('{"keep": "me"}')
        return [*EXPORT, "--no-verify"]

    def manifest_kept(out: Outcome) -> str | None:
        text = (out.case_dir / "out" / "demo_resnet.json").read_text()
        return None if text == '{"keep": "me"}' else "manifest replaced, artifact not written"

    def killed_then_rerun(folder: Path) -> list:
        import os
        import sys

        from hostile import ROOT

        env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(folder / "tmp")}
        cmd = [sys.executable, "-m", "deploykit", *EXPORT]
        proc = subprocess.Popen(
            cmd, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _mid_export(proc, folder)
        proc.kill()
        proc.wait()
        return [*EXPORT, "--no-verify"]

    def external_beside(folder: Path) -> list:
        import onnx

        model = onnx.load(fx.onnx)
        src = folder / "src"
        src.mkdir()
        onnx.save(
            model,
            src / "ext.onnx",
            save_as_external_data=True,
            location="ext.bin",
            size_threshold=0,
        )
        return ["export", src / "ext.onnx", "--to", "onnx", "-o", "out", "--no-verify"]

    def self_contained(out: Outcome) -> str | None:
        import onnx

        artifact = next((out.case_dir / "out").glob("*.onnx"), None)
        if artifact is None:
            return "no artifact"
        moved = out.case_dir / "moved.onnx"
        moved.write_bytes(artifact.read_bytes())  # alone, away from the folder it was written in
        for tensor in onnx.load(moved, load_external_data=False).graph.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                where = {e.key: e.value for e in tensor.external_data}["location"]
                if not (artifact.parent / where).is_file():
                    return f"points at missing {where}"
        return None

    def fallback_kept(out: Outcome) -> str | None:
        said = "onnxruntime" in out.stdout or "fallback" in out.stderr.lower()
        return None if said else "measurements lost"

    return [
        Case(
            "writes",
            "export --name ../../escape",
            [*EXPORT, "--name", "../../escape"],
            check=nothing_escaped,
        ),
        Case(
            "writes",
            "export --name /abs/escape",
            lambda f: [*EXPORT, "--name", f / "abs" / "escape"],
            check=nothing_escaped,
        ),
        Case("writes", "export --name sub/escape", [*EXPORT, "--name", "sub/escape"]),
        Case(
            "writes",
            "bench --json is the input artifact",
            _output_is_input(fx, "--json"),
            check=input_intact,
        ),
        Case(
            "writes",
            "bench --csv is the input artifact",
            _output_is_input(fx, "--csv"),
            check=input_intact,
        ),
        Case(
            "writes",
            "bench --markdown is the input artifact",
            _output_is_input(fx, "--markdown"),
            check=input_intact,
        ),
        Case(
            "writes",
            "bench --html is the input artifact",
            _output_is_input(fx, "--html"),
            check=input_intact,
        ),
        Case(
            "writes",
            "bench --json is the input's manifest",
            _output_is_input(fx, "--json", manifest=True),
            check=input_intact,
        ),
        Case("writes", "export -o is an existing file", out_is_a_file),
        Case(
            "writes",
            "a directory in the artifact's place",
            taken,
            expect=NONZERO,
            check=manifest_kept,
        ),
        Case(
            "writes",
            "SIGTERM during export",
            EXPORT,
            expect=(143,),
            act=_term_when_building,
            check=clean_out,
        ),
        Case(
            "writes",
            "SIGTERM during bench (parent only)",
            lambda f: ["bench", fx.onnx, "--min-time", "60", "--limit", "16"],
            expect=(143,),
            act=_term_when_measuring,
            check=no_orphans,
        ),
        Case(
            "writes",
            "SIGKILL mid-export, then a rerun in the same -o",
            killed_then_rerun,
            expect=(0,),
            check=clean_out,
        ),
        Case(
            "writes",
            "export under ulimit -f 64 KiB (file too large)",
            [*EXPORT, "--no-verify"],
            expect=NONZERO,
            limit=64 << 10,
            check=lambda o: (
                None
                if "large" in o.stderr or "space" in o.stderr
                else "does not say the file is too large"
            ),
        ),
        Case(
            "writes",
            "bench -o under ulimit -f 16 KiB keeps what it measured",
            lambda f: ["bench", fx.onnx, *QUICK, "-o", "out"],
            expect=NONZERO,
            limit=16 << 10,
            check=fallback_kept,
        ),
        Case(
            "writes",
            "ONNX with external data beside it: export",
            external_beside,
            expect=(0,),
            check=self_contained,
        ),
    ]
