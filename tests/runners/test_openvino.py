"""OpenVINO runner: our FP32 and Q/DQ ONNX files, the precision that really ran."""

from __future__ import annotations

import pytest

from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.errors import InputError
from deploykit.export import ExportRequest, export_model
from deploykit.runners import RunnerOptions, open_runner
from deploykit.runners.cpu import local_int8_weights

pytest.importorskip("openvino", reason="the openvino extra is not installed")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, trained_resnet):
    out = tmp_path_factory.mktemp("ov")
    fp32 = export_model(trained_resnet, ExportRequest(out_dir=out))
    calib = make_calibration_set("digits", 32, 0, out / "c.npz")
    # 7-bit weights on a CPU without VNNI, as the demo does (see test_int7_weights_... below)
    options = {"weights": local_int8_weights()}
    int8 = export_model(
        str(fp32.artifact),
        ExportRequest(precision="int8", calib=calib, out_dir=out, options=options),
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
    import openvino as ov

    fp32, _, x, _ = artifacts
    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    for precision in ("bf16", "f16"):
        if precision.upper() in capabilities:
            _, info = run("openvino", fp32, x[:4], inference_precision=precision)
            assert info.details["inference_precision"] == precision
        else:  # refused in one line rather than ignored or failing inside OpenVINO
            with pytest.raises(InputError, match=f"cannot run OpenVINO in {precision}"):
                run("openvino", fp32, x[:4], inference_precision=precision)
    with pytest.raises(InputError, match="unknown OpenVINO inference precision"):
        run("openvino", fp32, x[:4], inference_precision="int4")


AVX2_SCRIPT = """
import sys
from pathlib import Path
from deploykit.data import load_dataset, prepare
from deploykit.manifest import read_manifest
from deploykit.runners import RunnerOptions, open_runner

test = load_dataset("digits", "test")
for path in sys.argv[1:]:
    manifest = read_manifest(Path(path))
    options = RunnerOptions(threads=2, precision=manifest.precision)
    with open_runner("openvino", path, manifest.input, options) as runner:
        logits = runner.infer(prepare(test.images, manifest.input))
    print((logits.argmax(1) == test.labels).mean())
"""


def test_int7_weights_keep_int8_accuracy_without_vnni(artifacts, tmp_path):
    """oneDNN capped at AVX2 (no VNNI, as on older x86 CPUs): 7-bit weights keep top-1."""
    import os
    import subprocess
    import sys

    fp32 = artifacts[0]
    calib = make_calibration_set("digits", 64, 0, tmp_path / "c.npz")
    request = ExportRequest(
        out_dir=tmp_path, precision="int8", calib=calib, options={"weights": "int7"}
    )
    int7 = export_model(str(fp32.artifact), request)
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    done = subprocess.run(
        [sys.executable, "-c", AVX2_SCRIPT, str(fp32.artifact), str(int7.artifact)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    fp32_top1, int7_top1 = (float(v) for v in done.stdout.split())
    assert fp32_top1 > 0.95 and int7_top1 >= fp32_top1 - 0.01, (fp32_top1, int7_top1)
