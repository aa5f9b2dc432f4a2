"""Shared fixtures: digits-trained demo models, and ways to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Trained weights are cached between runs of the suite (fresh in CI, reused locally).
os.environ.setdefault("DEPLOYKIT_CACHE", str(ROOT / ".pytest_cache" / "deploykit-cache"))


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys):
    """Run ``deploykit ARGS`` in this process; returns exit code and captured output."""
    from deploykit.cli import main

    def run(*args: str) -> CliResult:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli_process():
    """Run ``deploykit ARGS`` in a fresh interpreter, as a user would."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 300) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "deploykit", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def _assert_user_error(result: CliResult, *fragments: str) -> None:
    assert result.code != 0, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def user_error():
    """Check a user error: non-zero exit, one stderr line 'error: ...', no traceback.

    Usage: ``user_error(result, "fragment expected in the message", ...)``.
    """
    return _assert_user_error


@pytest.fixture(scope="session")
def trained_resnet():
    """demo_resnet trained on digits (cached), as a LoadedModel."""
    from deploykit.zoo.trained import load_trained

    return load_trained("demo_resnet")


@pytest.fixture(scope="session")
def trained_mobilenet():
    """demo_mobilenet_v2 trained on digits (cached), as a LoadedModel."""
    from deploykit.zoo.trained import load_trained

    return load_trained("demo_mobilenet_v2")
