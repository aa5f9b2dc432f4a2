"""`deploykit layers` end to end, and its one-line errors (exit 2)."""

from __future__ import annotations

import json
import platform

import pytest

from deploykit.runners.qdq import X86
from tests.layers.conftest import CULPRIT_NODE


def test_layers_cli_writes_every_rendering(cli, culprit, tmp_path):
    pytest.importorskip("openvino", reason="needs the openvino extra")
    out = tmp_path / "report"
    result = cli(
        "layers",
        culprit["int8"],
        "--backend",
        "onnxruntime,openvino",
        "--samples",
        "8",
        "--runs",
        "5",
        "--top-k",
        "3",
        "-o",
        out,
    )
    assert result.code == 0, result.stderr
    assert "onnxruntime: worst 3 layers" in result.stdout and CULPRIT_NODE in result.stdout
    assert "openvino: slowest 3 layers" in result.stdout and "end-to-end median" in result.stdout
    for name in ("layers.json", "layers.md", "layers.html", "reference.onnx"):
        assert (out / name).is_file(), name
    assert "were each kept in FP32 and run end to end" in result.stdout
    data = json.loads((out / "layers.json").read_text())
    assert data["reference"]["ref"] == str(culprit["fp32"])  # taken from the manifest
    first = next(r for r in data["layers"] if r["node"] == CULPRIT_NODE)
    assert first["accuracy"]["onnxruntime"]["fp32_recovery"]["recovered"] > 0.7
    assert "onnxruntime FP32-kept cos" in (out / "layers.html").read_text()
    openvino = [r["latency"]["openvino"] for r in data["layers"] if "openvino" in r["latency"]]
    # OpenVINO fuses Conv + ReLU (+ Add): the time sits on the Conv with its members listed.
    assert any(len(lat["members"]) > 1 for lat in openvino)
    assert all(lat["precision"] for lat in openvino)
    # Timed as bench runs it: the runners' activation re-encoding (x86 only), recorded.
    for backend, mode in (("onnxruntime", "fast"), ("openvino", "nonnegative")):
        reencode = data["backends"][backend]["latency"]["activation_reencode"]
        x86 = platform.machine().lower() in X86
        assert reencode["ran"] is x86 and reencode.get("mode", mode) == mode, reencode


def test_different_input_specs_are_refused(cli, user_error, culprit, tmp_path):
    result = cli(
        "layers",
        culprit["int8"],
        "--reference",
        "demo_resnet",
        "--input-shape",
        "1x3x48x48",
        "-o",
        tmp_path,
    )
    user_error(result, "takes 3x32x32 inputs, the reference takes 3x48x48")
    assert result.code == 2


def test_a_backend_that_cannot_run_the_artifact(cli, user_error, culprit, tmp_path):
    result = cli("layers", culprit["int8"], "--backend", "litert", "-o", tmp_path)
    user_error(result, "backend litert cannot run .onnx artifacts", "onnxruntime,openvino,tensorrt")
    assert result.code == 2
    user_error(cli("layers", culprit["int8"], "--backend", "torch", "-o", tmp_path), "torch")


def test_a_reference_sharing_no_names(cli, user_error, culprit, slow, tmp_path):
    result = cli("layers", culprit["int8"], "--reference", slow, "-o", tmp_path)
    user_error(result, "and the reference graph share only 1 of 4 weighted layers by name")
    assert result.code == 2


def test_runner_option_times_the_file_as_written(cli, user_error, culprit, tmp_path):
    """``--runner-option reencode=false``: per-layer times of the Q/DQ file as written."""
    result = cli(
        "layers", culprit["int8"], "--backend", "onnxruntime", "--runner-option",
        "reencode=false", "--no-accuracy", "--runs", "3", "-o", tmp_path / "r",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    data = json.loads((tmp_path / "r" / "layers.json").read_text())
    latency = data["backends"]["onnxruntime"]["latency"]
    assert latency["activation_reencode"] == {"ran": False, "reason": "reencode=false"}
    # As written, ORT runs each ReLU in float between Q/DQ pairs (its own timed row);
    # re-encoded (the default), every ReLU is folded into its Conv's integer kernel.
    relus = [r for r in data["layers"] if r["op"] == "Relu"]
    assert relus and all("onnxruntime" in r["latency"] for r in relus)
    bad = cli(
        "layers", culprit["int8"], "--backend", "onnxruntime", "--runner-option", "hint=LATENCY",
        "-o", tmp_path,
    )  # fmt: skip
    user_error(bad, "runner option hint: no backend of this run (onnxruntime) reads it")


def test_tables_fold_rather_than_cut_at_100_columns(culprit, tmp_path, monkeypatch):
    """A 100-column terminal shows every node name and figure whole (folded, never `…`)."""
    import subprocess
    import sys

    monkeypatch.setenv("COLUMNS", "100")
    proc = subprocess.run(
        [sys.executable, "-m", "deploykit", "layers", str(culprit["int8"]), "--samples", "8",
         "--runs", "3", "--sensitivity", "2", "-o", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "worst 10 layers" in proc.stdout and "slowest" in proc.stdout
    assert "…" not in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 100
