"""OpenVINO runner: our FP32 and Q/DQ ONNX files, the precision that really ran."""

from __future__ import annotations

import pytest

from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.errors import InputError
from deploykit.export import ExportRequest, export_model
from deploykit.runners import RunnerOptions, open_runner

pytest.importorskip("openvino", reason="the openvino extra is not installed")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, trained_resnet):
    out = tmp_path_factory.mktemp("ov")
    fp32 = export_model(trained_resnet, ExportRequest(out_dir=out))
    calib = make_calibration_set("digits", 32, 0, out / "c.npz")
    int8 = export_model(
        str(fp32.artifact), ExportRequest(precision="int8", calib=calib, out_dir=out)
    )
    data = load_dataset("digits", "test", limit=200)
    return fp32, int8, prepare(data.images, fp32.manifest.input), data.labels


def run(backend, result, x, **extra):
    options = RunnerOptions(threads=2, precision=result.manifest.precision, extra=extra)
    with open_runner(backend, result.artifact, result.manifest.input, options) as runner:
        return runner.infer(x), runner.info


def test_fp32_runs_in_f32_and_matches_onnxruntime(artifacts):
    fp32, _, x, _ = artifacts
    ov_logits, info = run("openvino", fp32, x)
    ort_logits, _ = run("onnxruntime", fp32, x)
    assert info.details["inference_precision"] == "f32"  # FP32 asked for, not silent BF16
    assert "bf16" not in info.details["executed_precisions"]
    assert abs(ov_logits - ort_logits).max() < 1e-3 * abs(ort_logits).max()
    assert info.threads == 2 and info.details["cpu_isa"]


def test_qdq_file_runs_in_int8_and_agrees(artifacts):
    _, int8, x, labels = artifacts
    ov_logits, info = run("openvino", int8, x)
    ort_logits, _ = run("onnxruntime", int8, x)
    executed = info.details["executed_precisions"]
    assert executed.get("i8", 0) + executed.get("u8", 0) >= 5  # quantized layers ran in INT8
    assert (ov_logits.argmax(1) == ort_logits.argmax(1)).mean() >= 0.97
    assert (ov_logits.argmax(1) == labels).mean() >= 0.95


def test_inference_precision_can_be_forced(artifacts):
    fp32, _, x, _ = artifacts
    _, info = run("openvino", fp32, x[:4], inference_precision="bf16")
    if "BF16" in info.details["capabilities"]:
        assert info.details["inference_precision"] == "bf16"
    with pytest.raises(InputError, match="unknown OpenVINO inference precision"):
        run("openvino", fp32, x[:4], inference_precision="int4")
