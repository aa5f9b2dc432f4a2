"""Crash isolation: a segfault, a crash at one batch size and a hang each cost their cells only.

The crashing runners live in tests/bench/crashing_backends.py and reach the
worker processes as a bench plugin (``DEPLOYKIT_BENCH_PLUGINS``), so the real
subprocess path is what is tested.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from deploykit import targets
from deploykit.bench import BenchConfig, TimingConfig, run_bench
from deploykit.targets import PLUGINS_ENV

PLUGIN = Path(__file__).with_name("crashing_backends.py")
QUICK = TimingConfig(warmup_iters=2, warmup_s=0.0, min_iters=5, min_s=0.05, max_s=2)


@pytest.fixture
def crashing_backends(monkeypatch):
    """Load the crashing backends here and in every worker; undo the table change afterwards."""
    monkeypatch.setenv(PLUGINS_ENV, str(PLUGIN))
    saved = dict(targets.BACKENDS)
    yield
    targets.BACKENDS.clear()
    targets.BACKENDS.update(saved)
    sys.modules.pop(f"deploykit_bench_plugin_{PLUGIN.stem}", None)


def test_crash_and_hang_cost_one_cell_each(smoke_onnx, crashing_backends, tmp_path):
    checkpoint = tmp_path / "partial.json"
    seen = []

    def on_cell(cell, done, total):
        # The results file is rewritten as each cell finishes: an interrupted run keeps them.
        data = json.loads(checkpoint.read_text())
        seen.append((done, total, len(data["cells"]), data["complete"]))

    config = BenchConfig(
        backends=("onnxruntime", "crash-segv", "crash-on-b8", "hang", "buggy"),
        batch_sizes=(1, 8),
        timing=QUICK,
        limit=64,
        timeout_s=8,
        threads=1,
    )
    run = run_bench([str(smoke_onnx)], config, on_cell=on_cell, checkpoint=checkpoint)
    cells = {(c.backend, c.batch): c for c in run.cells}
    assert len(cells) == 10
    assert cells["onnxruntime", 1].status == cells["onnxruntime", 8].status == "ok"
    assert cells["onnxruntime", 1].reference
    for batch in (1, 8):
        assert cells["crash-segv", batch].status == "failed"
        assert "SIGSEGV" in cells["crash-segv", batch].error
        assert cells["hang", batch].status == "failed"
        assert "timed out after 8 s" in cells["hang", batch].error
        # The results keep the tail of the worker's trace: Python's, or the fault handler's.
        assert cells["buggy", batch].error == "KeyError: 'logits'"
        assert "in _infer_impl" in cells["buggy", batch].traceback
        assert "Segmentation fault" in cells["crash-segv", batch].traceback
        assert "crashing_backends.py" in cells["crash-segv", batch].traceback
    assert cells["onnxruntime", 1].traceback is None
    # The crash at batch 8 loses that cell only: batch 1 was measured and keeps its accuracy.
    b1, b8 = cells["crash-on-b8", 1], cells["crash-on-b8", 8]
    assert b1.status == "ok" and b1.latency["p50_ms"] > 0 and b1.accuracy["n"] == 64
    assert b8.status == "failed" and "SIGSEGV" in b8.error and "batch" not in b8.error
    assert b1.fidelity["top1_agreement"] == 1.0
    # Progress and partial files: one event per cell, counts growing, complete only at the end.
    assert [s[0] for s in seen] == list(range(1, 11)) and {s[1] for s in seen} == {10}
    assert all(not s[3] for s in seen) and seen[-1][2] == 10
    final = json.loads(checkpoint.read_text())
    assert final["complete"] and final["schema"] == "deploykit.bench/2"


def test_cli_reports_failed_cells_and_keeps_going(smoke_onnx, crashing_backends, cli, tmp_path):
    result = cli(
        "bench",
        smoke_onnx,
        "--backend",
        "onnxruntime,crash-segv",
        "--iters",
        "5",
        "--min-time",
        "0.05",
        "--warmup",
        "2",
        "--limit",
        "32",
        "--json",
        tmp_path / "r.json",
        "--verbose",
    )
    assert result.code == 0, result.stderr
    assert "SIGSEGV" in result.stdout and "ok" in result.stdout
    assert "Segmentation fault" in result.stderr  # --verbose: the worker's trace, as it crashed
    data = json.loads((tmp_path / "r.json").read_text())
    assert [c["status"] for c in data["cells"]] == ["ok", "failed"]


def test_in_process_mode_measures_the_same_cells(smoke_onnx):
    config = BenchConfig(
        backends=("onnxruntime",),
        batch_sizes=(1, 4),
        timing=QUICK,
        limit=32,
        isolate=False,
        threads=1,
    )
    run = run_bench([str(smoke_onnx)], config)
    assert [(c.backend, c.batch, c.status) for c in run.cells] == [
        ("onnxruntime", 1, "ok"),
        ("onnxruntime", 4, "ok"),
    ]
    assert run.cells[0].accuracy["n"] == 32 and run.cells[1].memory["peak_rss_mib"] > 0


def test_in_process_mode_keeps_the_traceback_of_a_failed_cell(smoke_onnx, crashing_backends):
    config = BenchConfig(
        backends=("buggy",), batch_sizes=(1,), timing=QUICK, limit=8, isolate=False
    )
    (cell,) = run_bench([str(smoke_onnx)], config).cells
    assert cell.status == "failed" and cell.error == "KeyError: 'logits'"
    assert cell.traceback.splitlines()[-1] == "KeyError: 'logits'"
    assert "in _infer_impl" in cell.traceback
