"""Keras -> ONNX with Keras' own exporter, verified in ONNX Runtime."""

import json

import numpy as np
import pytest

from deploykit.data import load_dataset, prepare
from deploykit.export import ExportRequest, export_model
from deploykit.optional import available
from deploykit.runners import open_runner
from deploykit.sources import load_model

# Not importorskip: importing TensorFlow directly, before triton, is the crash this package avoids.
pytestmark = pytest.mark.skipif(
    not available("tensorflow"), reason="needs the tflite extra (TensorFlow)"
)


def test_keras_to_onnx_is_verified_and_agrees_on_all_test_digits(tmp_path, keras_digits):
    loaded = load_model(str(keras_digits))
    result = export_model(loaded, ExportRequest(target="onnx", out_dir=tmp_path))
    manifest = json.loads(result.artifact.with_suffix(".json").read_text())
    assert manifest["exporter"]["name"] == "keras.Model.export" and manifest["exporter"]["tf2onnx"]
    assert manifest["input"]["layout"] == "NHWC" and manifest["input"]["shape"] == [1, 32, 32, 3]
    assert (
        manifest["verification"]["passed"] and manifest["verification"]["backend"] == "onnxruntime"
    )
    assert manifest["verification"]["max_abs_diff"] < 1e-4

    data = load_dataset("digits")
    x = prepare(data.images, loaded.spec)
    with open_runner("onnxruntime", result.artifact, result.manifest.input) as ort_runner:
        ort_logits = ort_runner.infer(x)  # NCHW in, transposed to NHWC at the runner boundary
    with open_runner("keras", loaded.model, loaded.spec) as keras_runner:
        keras_logits = keras_runner.infer(x)
    assert np.array_equal(ort_logits.argmax(1), keras_logits.argmax(1))
    assert np.mean(ort_logits.argmax(1) == data.labels) > 0.9


def test_keras_to_onnx_from_the_cli(tmp_path, cli, keras_digits):
    result = cli("export", keras_digits, "--to", "onnx", "-o", tmp_path)
    assert result.code == 0, result.stderr
    assert "verified on 32 digits samples in onnxruntime" in result.stdout
    assert (tmp_path / f"{keras_digits.stem}.onnx").is_file()
