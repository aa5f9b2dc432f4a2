"""One real CPU smoke-suite run shared by the bench tests (it is the expensive part)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE_SUITE = ROOT / "benchmarks" / "suites" / "cpu-smoke.yaml"
SMOKE_BASELINE = ROOT / "benchmarks" / "baselines" / "cpu-smoke.json"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``deploykit bench --suite cpu-smoke.yaml -o DIR`` run once, in a fresh interpreter."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("smoke")
    proc = subprocess.run(
        [sys.executable, "-m", "deploykit", "bench", "--suite", str(SMOKE_SUITE), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def smoke_onnx(smoke_run) -> Path:
    """The ONNX artifact the smoke suite exported (with its manifest)."""
    return next((smoke_run / "artifacts").glob("*/demo_resnet.onnx"))
