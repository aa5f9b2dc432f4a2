"""A manifest that lies or is malformed is refused in one line, naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.security.test_signals import tiny_onnx


@pytest.fixture
def artifact(tmp_path, cli) -> Path:
    """A real exported ONNX artifact (1x3x8x8, NCHW) with its manifest."""
    out = tmp_path / "art"
    result = cli("export", tiny_onnx(tmp_path / "m.onnx"), "--to", "onnx", "-o", out, "--no-verify")
    assert result.code == 0, result.stderr
    return out / "m.onnx"


def _edit(artifact: Path, change) -> None:
    path = artifact.with_suffix(".json")
    data = json.loads(path.read_text())
    data = change(data)
    path.write_text(json.dumps(data))


def _std_zero(d):
    d["input"]["preprocess"]["std"] = [0.229, 0.0, 0.225]
    return d


def _short_mean(d):
    d["input"]["preprocess"]["mean"] = [0.5, 0.5]
    return d


def _input_list(d):
    d["input"] = [1, 3, 8, 8]
    return d


def _nhwc(d):
    d["input"]["layout"] = "NHWC"
    d["input"]["shape"] = [1, 8, 8, 3]
    return d


CASES = {
    "std 0": (_std_zero, "has a 0"),
    "mean of the wrong length": (_short_mean, "2 values for 3 channels"),
    "list instead of object": (lambda d: [d], "not an object"),
    "input is a list": (_input_list, "expected an object"),
    "NHWC on an NCHW graph": (_nhwc, "manifest says NHWC 1x8x8x3"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_manifest_oddity_is_one_line(case, artifact, tmp_path, cli, refused):
    change, fragment = CASES[case]
    _edit(artifact, change)
    out = tmp_path / "bench"
    refused(cli("bench", artifact, "-o", out, "--iters", "3"), out, fragment)
