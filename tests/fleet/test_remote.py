"""A group measured on a device, without the cluster around it: every batch size in one
isolation worker, and the bytes checked against their manifest before anything runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deploykit.bench.api import BenchConfig, group_plan
from deploykit.bench.timing import TimingConfig
from deploykit.data import load_dataset, prepare
from deploykit.errors import InputError
from deploykit.fleet.remote import run_group
from deploykit.fleet.transfer import CACHE_ENV, pack
from deploykit.manifest import manifest_path, read_manifest
from deploykit.targets import PLUGINS_ENV

CRASHING = Path(__file__).parents[1] / "bench" / "crashing_backends.py"

FAST = TimingConfig(warmup_iters=1, warmup_s=0.0, min_iters=5, min_s=0.0, max_s=1.0)


def _task(path, allow_modified=False, backend="onnxruntime", batches=(1, 2, 4)):
    packed, blob = pack(path)
    data = load_dataset("digits", split="test", limit=40)
    x = prepare(data.images, read_manifest(path).input)
    plan = group_plan(BenchConfig(batch_sizes=batches, timing=FAST, threads=1), backend)
    task = {
        "item": str(path),
        "source": {},
        "artifact": packed.to_dict(),
        "plan": {**plan.to_dict(), "accuracy": True},
        "timeout_s": 120.0,
        "device": "dev-x",
        "token": 7,
        "allow_modified": allow_modified,
    }
    return task, blob, {"x": x, "labels": data.labels}


def _modified_copy(digits_onnx, tmp_path):
    """The same bytes, under a manifest that recorded other ones (as if edited after export)."""
    copy = tmp_path / "edited" / digits_onnx.name
    copy.parent.mkdir()
    shutil.copy(digits_onnx, copy)
    record = json.loads(manifest_path(digits_onnx).read_text())
    record["sha256"] = "0" * 64
    manifest_path(copy).write_text(json.dumps(record))
    return copy


def test_a_group_measures_every_batch_in_one_task(digits_onnx, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    task, blob, data = _task(digits_onnx)
    result = run_group(task, blob, None, None, data, None)
    assert sorted(result["cells"]) == [1, 2, 4]
    assert all(c["status"] == "ok" for c in result["cells"].values()), result["cells"]
    assert result["accuracy"]["top1"] > 0.8 and result["logits"].shape == (40, 10)
    assert result["device"] == "dev-x" and result["modified"] is None


def test_a_crash_costs_its_cell_and_a_fresh_worker_measures_the_rest(
    digits_onnx, tmp_path, monkeypatch
):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(PLUGINS_ENV, str(CRASHING))  # the workers load the crashing runners
    task, blob, data = _task(digits_onnx, backend="crash-on-b8", batches=(1, 8, 16))
    result = run_group(task, blob, None, None, data, None)
    cells = result["cells"]
    assert cells[1]["status"] == "ok" and cells[16]["status"] == "ok"
    assert cells[8]["status"] == "failed" and "SIGSEGV" in cells[8]["error"]
    assert result["accuracy"]["top1"] > 0.8  # scored before the crash, kept


def test_modified_bytes_are_refused_on_the_device(digits_onnx, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    task, blob, data = _task(_modified_copy(digits_onnx, tmp_path))
    with pytest.raises(InputError, match="was modified after export"):
        run_group(task, blob, None, None, data, None)


def test_allow_modified_measures_and_records_the_mismatch(digits_onnx, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    task, blob, data = _task(_modified_copy(digits_onnx, tmp_path), allow_modified=True)
    task["plan"]["batches"] = [1]
    result = run_group(task, blob, None, None, data, None)
    assert result["cells"][1]["status"] == "ok"
    assert result["modified"]["recorded"] == "0" * 64
    assert result["modified"]["actual"] == pack(digits_onnx)[0].sha256
