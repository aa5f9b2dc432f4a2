"""The runner contract on real runners: the timing split, device memory, and open failures.

Every backend in the capability table is tested here without anyone listing it:
CPU backends must report no compute split (they cannot tell compute from
end-to-end), CUDA backends must report one that fits inside the end-to-end time.
"""

from __future__ import annotations

import numpy as np
import pytest

from deploykit.bench.cells import _memory
from deploykit.bench.timing import TimingConfig, measure_runner
from deploykit.errors import InputError, MissingBackendError
from deploykit.export import ExportRequest, export_model
from deploykit.runners import RunnerOptions, open_runner
from deploykit.runners.onnxruntime import OrtRunner
from deploykit.targets import BACKENDS

QUICK = TimingConfig(warmup_iters=2, warmup_s=0.0, min_iters=5, min_s=0.0, max_s=5.0)
RUNNABLE_HERE = ("torch", "onnx")  # formats this test builds artifacts for (fast, on CPU)


def _backends(device: str) -> list[str]:
    return [
        b.name
        for b in BACKENDS.values()
        if b.device == device and set(b.formats) & {*RUNNABLE_HERE, "engine"}
    ]


@pytest.fixture(scope="module")
def artifacts(trained_resnet, tmp_path_factory):
    """The digits-trained demo_resnet per format: in memory (torch) and as FP32 ONNX."""
    out = tmp_path_factory.mktemp("contract")
    onnx = export_model(trained_resnet, ExportRequest(out_dir=out, verify=False)).artifact
    return {"torch": trained_resnet.model, "onnx": onnx, "out": out}


def _open(backend: str, artifacts, trained_resnet):
    """The backend's runner on the demo model in the first format it runs; skip where missing."""
    fmt = next(f for f in BACKENDS[backend].formats if f in (*RUNNABLE_HERE, "engine"))
    try:
        if fmt == "engine" and "engine" not in artifacts:
            request = ExportRequest(target="trt", out_dir=artifacts["out"], verify=False)
            artifacts["engine"] = export_model(trained_resnet, request).artifact
        return open_runner(backend, artifacts[fmt], trained_resnet.spec, RunnerOptions(threads=1))
    except MissingBackendError as exc:
        pytest.skip(f"{backend}: {exc}")


@pytest.mark.parametrize("backend", _backends("cpu"))
def test_cpu_runners_report_no_compute_split(backend, artifacts, trained_resnet):
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    with _open(backend, artifacts, trained_resnet) as runner:
        stats = measure_runner(runner, x, QUICK)
        assert runner.last_compute_s is None and runner.gpu_memory_mib is None
        assert stats.compute is None and stats.n >= QUICK.min_iters and stats.p50_ms > 0
        assert "gpu_mib" not in _memory(runner) and _memory(runner)["peak_rss_mib"] > 0


@pytest.mark.gpu
@pytest.mark.parametrize("backend", _backends("cuda"))
def test_cuda_runners_split_compute_from_end_to_end(backend, artifacts, trained_resnet):
    from deploykit.data import load_dataset, prepare

    data = load_dataset("digits", "test", limit=64)
    x = prepare(data.images, trained_resnet.spec)
    with _open(backend, artifacts, trained_resnet) as runner:
        assert (runner.infer(x).argmax(1) == data.labels).mean() > 0.9
        stats = measure_runner(runner, x[:8], QUICK)
        memory = _memory(runner)
    assert stats.compute is not None and stats.compute["n"] == stats.n
    # Device compute excludes the host<->device copies the end-to-end time includes.
    assert 0 < stats.compute["p50_ms"] <= stats.p50_ms
    assert runner.gpu_memory_mib is not None and runner.gpu_memory_mib > 0
    assert memory["gpu_mib"] == runner.gpu_memory_mib


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_a_file_the_runtime_refuses_is_one_input_error(backend, tmp_path, trained_resnet):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a protobuf" * 8)
    try:
        with pytest.raises(InputError, match=f"{backend} cannot open garbage.onnx"):
            open_runner(backend, garbage, trained_resnet.spec)
    except MissingBackendError as exc:
        pytest.skip(f"{backend}: {exc}")


def test_a_bug_while_opening_stays_a_traceback(artifacts, trained_resnet):
    """Only the runtime's own errors become "cannot open": deploykit's bugs propagate as they are."""

    class BuggyRunner(OrtRunner):
        def _open_impl(self) -> None:
            super()._open_impl()
            self.details["providers"][5]  # an IndexError in our code, not in ONNX Runtime

    with pytest.raises(IndexError):
        BuggyRunner(artifacts["onnx"], trained_resnet.spec).open()
