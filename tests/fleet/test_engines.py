"""TensorRT engines for a fleet: keyed by source, request, device kind and libraries; built once."""

from __future__ import annotations

import pytest

from deploykit.fleet.engines import engine_key
from deploykit.tensorrt_compat import gpu_ready

ORIN = {"gpu": "Orin", "compute_capability": "8.7", "tensorrt": "10.3.0", "cuda": "12.6"}


def test_engine_key_follows_what_binds_an_engine():
    key = engine_key("a" * 64, {"precision": "fp16"}, ORIN)
    assert key == engine_key("a" * 64, {"precision": "fp16"}, dict(ORIN))
    assert key != engine_key("b" * 64, {"precision": "fp16"}, ORIN)  # another ONNX graph
    assert key != engine_key("a" * 64, {"precision": "fp32"}, ORIN)  # another build request
    assert key != engine_key("a" * 64, {"precision": "fp16"}, {**ORIN, "tensorrt": "10.7.0"})
    assert key != engine_key("a" * 64, {"precision": "fp16"}, {**ORIN, "gpu": "RTX 4090"})


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_ready(), reason="needs TensorRT and an NVIDIA GPU")
def test_engine_is_built_on_the_device_once_and_measured(digits_onnx, tmp_path):
    import numpy as np

    from deploykit.bench.api import BenchConfig, group_plan
    from deploykit.data import load_dataset, prepare
    from deploykit.fleet.engines import engine_for
    from deploykit.fleet.remote import run_group
    from deploykit.fleet.transfer import CACHE_ENV, pack
    from deploykit.manifest import read_manifest
    from deploykit.sources import load_model

    engine = engine_for(digits_onnx, {"precision": "fp16"}, tmp_path)
    assert engine.suffix == ".engine" and read_manifest(engine).device["gpu"]
    mtime = engine.stat().st_mtime_ns
    assert engine_for(digits_onnx, {"precision": "fp16"}, tmp_path) == engine
    assert engine.stat().st_mtime_ns == mtime  # cached, not rebuilt

    packed, blob = pack(digits_onnx)
    data = load_dataset("digits", split="test", limit=64)
    x = prepare(data.images, load_model(str(digits_onnx)).spec)
    plan = group_plan(BenchConfig(batch_sizes=(1,)), "tensorrt")
    task = {
        "item": str(digits_onnx),
        "source": {},
        "artifact": packed.to_dict(),
        "engine": {"precision": "fp16"},
        "plan": plan.to_dict(),
        "timeout_s": 300.0,
        "device": "gpu-0",
        "token": 1,
        "allow_modified": False,
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv(CACHE_ENV, str(tmp_path))
        result = run_group(task, blob, None, None, {"x": x, "labels": data.labels}, None)
    cell = result["cells"][1]
    assert cell["status"] == "ok", cell
    assert result["accuracy"]["top1"] > 0.8
    assert np.isfinite(cell["latency"]["p50_ms"])
