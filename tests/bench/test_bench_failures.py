"""A broken runtime or a tampered artifact cannot turn a CI job green."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

QUICK = ("--warmup", "1", "--iters", "5", "--min-time", "0.01", "--limit", "16")


def _no_cuda():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA: ort-cuda would succeed")


def _copy(onnx, folder):
    """The artifact and its manifest, copied (the manifest still names the same bytes)."""
    target = folder / onnx.name
    shutil.copy(onnx, target)
    shutil.copy(onnx.with_suffix(".json"), target.with_suffix(".json"))
    return target


def _flip_a_weight_bit(path):
    """One bit of the largest weight flipped: still a valid model, not the one exported."""
    import onnx

    weights = max(onnx.load(path).graph.initializer, key=lambda t: len(t.raw_data)).raw_data
    data = bytearray(path.read_bytes())
    data[data.find(weights) + len(weights) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_bench_exits_non_zero_when_every_cell_failed(cli, smoke_onnx, tmp_path):
    _no_cuda()
    out = tmp_path / "r.json"
    result = cli("bench", smoke_onnx, "--backend", "ort-cuda", *QUICK, "--json", out)
    assert result.code == 5 and "Traceback" not in result.stderr
    assert "1 of 1 cells failed" in result.stderr.strip().splitlines()[-1]
    assert json.loads(out.read_text())["cells"][0]["status"] == "failed"  # results kept


def test_strict_fails_the_run_on_any_failed_cell(cli, smoke_onnx, tmp_path):
    _no_cuda()
    both = ("--backend", "onnxruntime,ort-cuda", *QUICK, "--json", tmp_path / "r.json")
    assert cli("bench", smoke_onnx, *both).code == 0  # one cell measured: a table, not an error
    result = cli("bench", smoke_onnx, *both, "--strict")
    assert result.code == 5 and "1 of 2 cells failed" in result.stderr
    cells = json.loads((tmp_path / "r.json").read_text())["cells"]
    assert [c["status"] for c in cells] == ["ok", "failed"]


def test_a_modified_artifact_is_refused_unless_allowed(cli, user_error, smoke_onnx, tmp_path):
    model = _copy(smoke_onnx, tmp_path)
    _flip_a_weight_bit(model)
    out = tmp_path / "r.json"
    refused = cli("bench", model, *QUICK, "--json", out)
    user_error(refused, "was modified after export", "--allow-modified")
    assert refused.code == 2 and not out.exists()
    allowed = cli("bench", model, *QUICK, "--json", out, "--allow-modified")
    assert allowed.code == 0, allowed.stderr
    record = json.loads(out.read_text())["config"]["modified_artifacts"]
    assert [r["artifact"] for r in record] == [str(model)]
    assert record[0]["recorded"] != record[0]["actual"]


def test_the_suite_cache_does_not_reuse_a_modified_artifact(smoke_onnx, tmp_path):
    from deploykit.bench.suite import cached_artifact

    model = _copy(smoke_onnx, tmp_path)
    assert cached_artifact(tmp_path, ".onnx") == model
    _flip_a_weight_bit(model)
    assert cached_artifact(tmp_path, ".onnx") is None  # exported again, not reused


def test_an_unlabelled_set_scores_no_accuracy_rather_than_nan():
    from deploykit.bench.cells import accuracy_record

    record = accuracy_record(np.eye(4, 10, dtype=np.float32), -np.ones(4, dtype=np.int64))
    assert record["n"] == 0 and record["top1"] is None and record["top5"] is None
