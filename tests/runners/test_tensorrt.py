"""TensorRT runner: refusing engines built elsewhere (checked on any machine) and GPU runs."""

from __future__ import annotations

import pytest

from deploykit.errors import InputError, MissingBackendError
from deploykit.manifest import Manifest
from deploykit.optional import available
from deploykit.spec import InputSpec
from deploykit.tensorrt_compat import (
    check_engine,
    engine_mismatches,
    gpu_ready,
    has_legacy_calibrator,
)

HERE = {
    "gpu": "NVIDIA H100 80GB HBM3",
    "compute_capability": "9.0",
    "tensorrt": "10.13.3.9",
    "cuda": "12.8",
}
SPEC = InputSpec((1, 3, 32, 32))


def fake_engine(tmp_path, device):
    """An engine file with a manifest recording the device it was built on."""
    path = tmp_path / "demo_resnet_int8_trt.engine"
    path.write_bytes(b"not a real engine")
    Manifest(
        artifact=path.name,
        target="trt",
        precision="int8",
        input=SPEC,
        source={"ref": "demo_resnet"},
        device=device,
    ).write(path)
    return path


def test_engine_from_same_device_is_accepted(tmp_path):
    check_engine(fake_engine(tmp_path, dict(HERE)), HERE)
    check_engine(tmp_path / "no_manifest.engine", HERE)  # nothing recorded: TensorRT decides


@pytest.mark.parametrize(
    ("key", "value"),
    [("gpu", "Orin (nvgpu)"), ("compute_capability", "8.7"), ("tensorrt", "11.4.1")],
)
def test_engine_from_another_gpu_or_tensorrt_is_refused_with_rebuild_hint(tmp_path, key, value):
    path = fake_engine(tmp_path, {**HERE, key: value})
    with pytest.raises(InputError) as info:
        check_engine(path, HERE)
    message = str(info.value)
    assert f"{key} {value} (here: {HERE[key]})" in message
    assert "rebuild it here: deploykit export demo_resnet --to trt --precision int8" in message


def test_cuda_version_alone_does_not_bind_an_engine():
    assert engine_mismatches({**HERE, "cuda": "12.2"}, HERE) == []
    assert has_legacy_calibrator("10.3.0") and not has_legacy_calibrator("11.0.1")


@pytest.mark.skipif(available("tensorrt"), reason="TensorRT is installed here")
def test_runner_without_tensorrt_names_the_extra(tmp_path):
    from deploykit.runners import open_runner

    with pytest.raises(MissingBackendError, match="deploykit\\[gpu\\]"):
        open_runner("tensorrt", fake_engine(tmp_path, HERE), SPEC)


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_ready(), reason="needs TensorRT and an NVIDIA GPU")
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_runner_times_compute_and_reports_memory(cuda_graph, trained_resnet, tmp_path):
    import numpy as np

    from deploykit.data import load_dataset, prepare
    from deploykit.export import ExportRequest, export_model
    from deploykit.runners import RunnerOptions, open_runner

    result = export_model(trained_resnet, ExportRequest(target="trt", out_dir=tmp_path))
    data = load_dataset("digits", "test", limit=64)
    x = prepare(data.images, result.manifest.input)
    options = RunnerOptions(extra={"cuda_graph": cuda_graph})
    with open_runner("tensorrt", result.artifact, result.manifest.input, options) as runner:
        logits = runner.infer(x)
        logits_again = runner.infer(x)
    assert np.allclose(logits, logits_again)
    assert (logits.argmax(1) == data.labels).mean() > 0.95
    assert runner.last_compute_s > 0 and runner.gpu_memory_mib > 0
