"""TensorRT engine export: version planning and refusals on any machine; builds on a GPU."""

from __future__ import annotations

import pytest

from deploykit.errors import InputError
from deploykit.export import ExportRequest
from deploykit.export.tensorrt import plan
from deploykit.optional import available
from deploykit.targets import TARGETS
from deploykit.tensorrt_compat import gpu_ready

DEFAULTS = TARGETS["trt"].resolve_options({})


def test_tensorrt_11_is_strongly_typed_and_reads_precision_from_the_onnx_graph():
    for precision in ("fp32", "fp16", "int8"):
        built = plan("11.4.1", precision, DEFAULTS)
        assert built == {
            "onnx_precision": precision,
            "strongly_typed": True,
            "flags": [],
            "legacy_calibrator": False,
        }


def test_tensorrt_10_uses_builder_flags():
    assert plan("10.3.0.26", "fp16", DEFAULTS)["flags"] == ["FP16"]
    assert plan("10.3.0.26", "fp16", DEFAULTS)["onnx_precision"] == "fp32"
    int8 = plan("10.3.0.26", "int8", DEFAULTS)
    assert (int8["onnx_precision"], int8["flags"]) == ("int8", ["INT8"])  # Q/DQ graph
    legacy = plan("10.3.0.26", "int8", {**DEFAULTS, "calibrator": "legacy"})
    assert (legacy["onnx_precision"], legacy["legacy_calibrator"]) == ("fp32", True)


def test_legacy_calibrator_and_unknown_options_are_refused():
    with pytest.raises(InputError, match="TensorRT <= 10"):
        plan("11.0.0", "int8", {**DEFAULTS, "calibrator": "legacy"})
    with pytest.raises(InputError, match="trt has no option 'workspce'"):
        ExportRequest(target="trt", options={"workspce": 1024})


@pytest.mark.skipif(available("tensorrt"), reason="TensorRT is installed here")
def test_trt_without_tensorrt_says_how_to_install(cli, user_error, tmp_path):
    result = cli("export", "demo_resnet", "--to", "trt", "-o", tmp_path)
    user_error(result, "TensorRT is not installed", "deploykit[gpu]", "container")
    assert result.code == 3 and not any(tmp_path.iterdir())


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_ready(), reason="needs TensorRT and an NVIDIA GPU")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_builds_runs_and_records_its_device(precision, trained_resnet, tmp_path):
    from deploykit.calibration import make_calibration_set
    from deploykit.export import ExportRequest, export_model

    calib = make_calibration_set("digits", 64, 0, tmp_path / "c.npz")
    result = export_model(
        trained_resnet,
        ExportRequest(
            target="trt",
            precision=precision,
            calib=calib,
            out_dir=tmp_path,
            options={"max_batch": 64, "timing_cache": str(tmp_path / "t.cache")},
        ),
    )
    device = result.manifest.device
    assert {"gpu", "compute_capability", "tensorrt", "cuda"} <= set(device)
    assert result.manifest.verification["top1_agreement"] >= 0.95
    assert (tmp_path / "t.cache").stat().st_size > 0
