"""SIGTERM is handled like Ctrl-C; a SIGKILLed run's leftovers are removed by the next run.

The bench runs a backend that hangs in its worker (tests/bench/crashing_backends.py,
loaded as a bench plugin), so the signal arrives while a real worker process is running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from deploykit.targets import PLUGINS_ENV
from tests.security.conftest import files_under

PLUGIN = Path(__file__).parents[1] / "bench" / "crashing_backends.py"


def tiny_onnx(path: Path) -> Path:
    """A real 1x3x8x8 -> 10-class ONNX classifier (global average pool, flatten, linear).

    Ten outputs, one per digit: data whose labels the model cannot output is refused.
    """
    import onnx
    from onnx import TensorProto, helper

    weights = [((i * 7 + j * 3) % 11 - 5) / 5 for i in range(3) for j in range(10)]
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [helper.make_tensor("w", TensorProto.FLOAT, [3, 10], weights)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def _start_hanging_bench(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "out"
    env = {**os.environ, PLUGINS_ENV: str(PLUGIN), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    args = ["bench", tiny_onnx(tmp_path / "m.onnx"), "--backend", "hang", "-o", out]
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploykit", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc, out


def _wait_for_worker(proc: subprocess.Popen, timeout: float = 60) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = psutil.Process(proc.pid).children(recursive=True)
        if workers and time.monotonic() > 0:
            time.sleep(2)  # let it reach the hanging inference
            return workers[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("no bench worker started")


def test_sigterm_cleans_up_kills_the_worker_and_exits_143(tmp_path):
    proc, out = _start_hanging_bench(tmp_path)
    try:
        worker = _wait_for_worker(proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    assert "Traceback" not in stderr and len(lines) <= 6, stderr
    assert any("terminated by SIGTERM" in line for line in lines), stderr
    worker.wait(timeout=10)  # raises if the worker outlived the bench
    assert not psutil.pid_exists(worker.pid) or worker.status() == psutil.STATUS_ZOMBIE
    # Nothing at all in TMPDIR: ONNX Runtime's telemetry session file (.ses) included.
    assert sorted((tmp_path / "tmp").iterdir()) == []
    assert [p for p in files_under(out) if p.name.startswith(".")] == []


def test_sigkilled_run_leaves_no_orphan_and_the_next_run_cleans_up(tmp_path, cli):
    proc, out = _start_hanging_bench(tmp_path)
    try:
        worker = _wait_for_worker(proc)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        proc.kill()
    worker.wait(timeout=10)  # the kernel kills the worker with its parent (PR_SET_PDEATHSIG)
    left = _ours(tmp_path / "tmp")
    assert left and all(p.name.startswith(f"deploykit-{proc.pid}-") for p in left), left
    # A killed export leaves a half-written artifact beside the output, named by its pid.
    out.mkdir(exist_ok=True)
    half = out / f".deploykit-{proc.pid}-m.abc123.onnx"
    half.write_bytes(b"half an artifact")
    past = 1_000_000_000  # 2001: older than any run
    os.utime(half, (past, past))
    for entry in left:
        os.utime(entry, (past, past))
    tempfile.tempdir, saved = str(tmp_path / "tmp"), tempfile.tempdir
    try:
        result = cli(
            "export", tmp_path / "m.onnx", "--to", "onnx", "-o", out, "--verify-samples", "2"
        )
    finally:
        tempfile.tempdir = saved
    assert result.code == 0, result.stderr
    assert not half.exists()
    assert _ours(tmp_path / "tmp") == []
    assert sorted(p.name for p in files_under(out)) == ["m.json", "m.onnx"]


@pytest.mark.parametrize("running", [True, False])
def test_temporaries_of_live_processes_are_kept(tmp_path, running):
    from deploykit.fileio import remove_stale_temporaries

    pid = os.getpid() if running else _dead_pid()
    stale = tmp_path / f".deploykit-{pid}-model.x.onnx"
    stale.write_bytes(b"x")
    past = 1_000_000_000  # 2001: older than any run
    os.utime(stale, (past, past))
    removed = remove_stale_temporaries(tmp_path)
    assert stale.exists() == running and (removed == [] if running else removed == [stale])


def _ours(folder: Path) -> list[Path]:
    """deploykit's temporaries in ``folder`` (runtimes may leave their own files there)."""
    return sorted(p for p in folder.iterdir() if "deploykit-" in p.name)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
