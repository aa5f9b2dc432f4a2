"""TFLite export from Keras and PyTorch at every precision, verified in LiteRT."""

import json

import numpy as np
import pytest

from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.errors import CalibrationError
from deploykit.export import ExportRequest, export_model
from deploykit.metrics import fidelity
from deploykit.optional import available
from deploykit.runners import RunnerOptions, open_runner
from deploykit.sources import load_model
from deploykit.spec import InputSpec

# Not importorskip: importing TensorFlow directly, before triton, is the crash this package avoids.
pytestmark = pytest.mark.skipif(
    not available("tensorflow"), reason="needs the tflite extra (TensorFlow)"
)


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    """64 raw digits training images, prepared per model at export time."""
    return make_calibration_set("digits", 64, 0, tmp_path_factory.mktemp("calib") / "digits.npz")


@pytest.fixture(scope="module")
def keras_loaded(keras_digits):
    return load_model(str(keras_digits))


@pytest.fixture(scope="module")
def test_digits():
    return load_dataset("digits")


def logits(backend, model, spec, x, precision="fp32"):
    with open_runner(backend, model, spec, RunnerOptions(precision=precision)) as runner:
        return runner.infer(x)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8-dynamic", "int8"])
def test_keras_to_tflite_at_each_precision(tmp_path, keras_loaded, calib, test_digits, precision):
    request = ExportRequest(target="tflite", precision=precision, out_dir=tmp_path, calib=calib)
    result = export_model(keras_loaded, request)
    manifest = json.loads(result.artifact.with_suffix(".json").read_text())
    assert manifest["verification"]["passed"] and manifest["verification"]["backend"] == "litert"
    assert manifest["input"]["layout"] == "NHWC" and manifest["exporter"]["route"].startswith(
        "keras"
    )
    assert manifest["details"]["io"] == "float" and manifest["details"]["input_dtype"] == "float32"
    x = prepare(test_digits.images, keras_loaded.spec)
    reference = logits("keras", keras_loaded.model, keras_loaded.spec, x)
    candidate = logits("litert", result.artifact, result.manifest.input, x, precision)
    agreement = np.mean(candidate.argmax(1) == reference.argmax(1))
    assert agreement >= (1.0 if precision == "fp32" else 0.97), agreement
    if precision == "fp32":
        assert np.abs(candidate - reference).max() < 1e-3
    if precision == "int8":
        assert (
            manifest["calibration"]["count"] == 64 and manifest["calibration"]["method"] == "minmax"
        )
        assert "int8" in manifest["details"]["tensor_dtypes"]
    sizes = {"fp32": 1.0, "fp16": 0.6, "int8-dynamic": 0.4, "int8": 0.4}
    fp32_bytes = 4 * keras_loaded.model.count_params()
    assert result.artifact.stat().st_size < sizes[precision] * fp32_bytes + 20_000


def test_full_integer_int8_io_has_int8_tensors_and_keeps_top1(
    tmp_path, trained_resnet, calib, test_digits
):
    request = ExportRequest(
        target="tflite", precision="int8", out_dir=tmp_path, calib=calib, options={"io": "int8"}
    )
    result = export_model(trained_resnet, request)
    details = result.manifest.details
    assert details["input_dtype"] == "int8" and details["output_dtype"] == "int8"
    assert details["tensor_dtypes"] == ["int32", "int8"] and details["quantized_tensors"] > 10
    assert result.manifest.input.layout == "NHWC" and result.manifest.input.shape == (1, 32, 32, 3)
    x = prepare(test_digits.images, trained_resnet.spec)
    reference = logits("torch", trained_resnet.model, trained_resnet.spec, x)
    with open_runner("litert", result.artifact, result.manifest.input) as runner:
        candidate = runner.infer(x)
        assert runner.info.details["input_dtype"] == "int8"
    assert np.mean(candidate.argmax(1) == reference.argmax(1)) >= 0.95
    assert np.mean(candidate.argmax(1) == test_digits.labels) >= 0.9


def test_pytorch_to_tflite_goes_through_verified_onnx(tmp_path, trained_resnet, test_digits):
    result = export_model(trained_resnet, ExportRequest(target="tflite", out_dir=tmp_path))
    manifest = result.manifest
    assert result.artifact.name == "demo_resnet_tflite.tflite"
    assert manifest.exporter["route"] == "torch -> ONNX -> onnx2tf -> SavedModel"
    assert manifest.details["onnx_verification"]["top1_agreement"] == 1.0
    assert manifest.input.layout == "NHWC" and manifest.source["ref"] == "demo_resnet"
    assert manifest.verification["max_abs_diff"] < 1e-3
    x = prepare(test_digits.images, trained_resnet.spec)  # the same NCHW batch for both
    reference = logits("torch", trained_resnet.model, trained_resnet.spec, x)
    candidate = logits("litert", result.artifact, manifest.input, x)
    assert np.abs(candidate - reference).max() < 1e-3


def test_precisions_of_one_source_share_one_onnx2tf_conversion(tmp_path, trained_resnet):
    first = export_model(trained_resnet, ExportRequest(target="tflite", out_dir=tmp_path))
    request = ExportRequest(target="tflite", precision="fp16", out_dir=tmp_path)
    second = export_model(trained_resnet, request)
    assert first.manifest.exporter["saved_model"] == "converted"
    assert second.manifest.exporter["saved_model"].startswith("reused from .deploykit-cache/")
    assert second.manifest.verification["passed"]
    assert len(list((tmp_path / ".deploykit-cache").iterdir())) == 1  # no staging left over


@pytest.mark.slow  # MobileNetV2 at full width: ~30 s of conversion on two cores
def test_keras_application_to_tflite_from_the_cli(tmp_path, cli):
    args = ("keras:MobileNetV2", "--num-classes", "10", "--input-shape", "1x32x32x3")
    result = cli("export", *args, "--to", "tflite", "-o", tmp_path)
    assert result.code == 0, result.stderr
    assert "verified on 32 digits samples in litert" in result.stdout
    manifest = json.loads((tmp_path / "mobilenetv2_tflite.json").read_text())
    assert manifest["input"]["shape"] == [1, 32, 32, 3] and manifest["num_classes"] == 10


def test_int8_without_calibration_is_one_line(tmp_path, cli, user_error, keras_digits):
    result = cli("export", keras_digits, "--to", "tflite", "--precision", "int8", "-o", tmp_path)
    user_error(result, "needs a calibration set", "deploykit calibrate")
    assert not any(tmp_path.iterdir())


def test_int8_io_needs_int8_precision(tmp_path, cli, user_error, keras_digits):
    result = cli("export", keras_digits, "--to", "tflite", "--option", "io=int8", "-o", tmp_path)
    user_error(result, "int8 input/output needs --precision int8")
    assert not any(tmp_path.iterdir())


def test_channels_last_calibration_set_is_refused(tmp_path, cli, user_error, keras_digits):
    bad = tmp_path / "nhwc.npz"
    images = load_dataset("digits", "train", limit=32).images.transpose(0, 2, 3, 1)
    np.savez(bad, x=np.ascontiguousarray(images))
    out = tmp_path / "out"
    args = ("--to", "tflite", "--precision", "int8", "--calib", bad, "-o", out)
    user_error(cli("export", keras_digits, *args), "channels-last")
    assert not out.exists() or not any(out.iterdir())


def test_calibration_set_for_another_input_is_refused(tmp_path, keras_loaded):
    other = InputSpec((1, 3, 16, 16))  # prepared for a 16x16 model
    path = make_calibration_set("digits", 16, 0, tmp_path / "c16.npz", spec=other)
    request = ExportRequest(target="tflite", precision="int8", out_dir=tmp_path / "o", calib=path)
    with pytest.raises(CalibrationError, match="needs 3x32x32"):
        export_model(keras_loaded, request)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_int8_maxpool_with_padding_keeps_a_sane_int8_range(tmp_path, calib, test_digits):
    """onnx2tf pads max-pools with float32's minimum; calibrated as is, that breaks int8."""
    import torch

    from deploykit.sources import LoadedModel
    from deploykit.zoo.demo import DIGITS_PREPROCESS

    torch.manual_seed(0)
    stem = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.MaxPool2d(3, stride=2, padding=1),  # the resnet stem's pool: explicit padding
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10),
    ).eval()  # fmt: skip
    spec = InputSpec((1, 3, 32, 32), preprocess=DIGITS_PREPROCESS)
    loaded = LoadedModel("torch", "pooled", spec, {"ref": "test"}, model=stem, num_classes=10)
    request = ExportRequest(
        target="tflite", precision="int8", out_dir=tmp_path, calib=calib, verify=False
    )
    result = export_model(loaded, request)
    from ai_edge_litert.interpreter import Interpreter

    scales = [t["quantization"][0] for t in Interpreter(str(result.artifact)).get_tensor_details()]
    assert max(scales) < 10.0, max(scales)
    x = prepare(test_digits.images[:64], spec)
    reference = logits("torch", stem, spec, x)
    candidate = logits("litert", result.artifact, result.manifest.input, x, "int8")
    assert fidelity(reference, candidate).cosine > 0.98
    # The zero padding is INT8's only: an FP32 export of the same graph converts anew.
    fp32 = export_model(loaded, ExportRequest(target="tflite", out_dir=tmp_path, verify=False))
    assert fp32.manifest.exporter["saved_model"] == "converted"
