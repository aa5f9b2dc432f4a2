import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from deploykit.data import load_dataset, prepare
from deploykit.errors import VerificationError
from deploykit.export import ExportRequest, Tolerance, export_model
from deploykit.sources import SourceOptions, load_model
from deploykit.zoo import SEED_ARCHITECTURES


def test_export_writes_a_verified_artifact_and_manifest(tmp_path, trained_resnet):
    result = export_model(trained_resnet, ExportRequest(out_dir=tmp_path))
    assert result.artifact == tmp_path / "demo_resnet.onnx"
    manifest = json.loads((tmp_path / "demo_resnet.json").read_text())
    assert manifest["schema"] == "deploykit.manifest/1" and manifest["precision"] == "fp32"
    assert (
        manifest["exporter"]["mode"] in ("dynamo", "torchscript")
        and manifest["exporter"]["opset"] == 18
    )
    assert manifest["input"]["shape"] == [1, 3, 32, 32] and manifest["input"]["layout"] == "NCHW"
    assert manifest["source"]["ref"] == "demo_resnet" and len(manifest["source"]["sha256"]) == 64
    assert manifest["verification"]["passed"] and manifest["verification"]["top1_agreement"] == 1.0
    assert manifest["verification"]["max_abs_diff"] < 1e-4 and manifest["libraries"]["onnxruntime"]
    assert manifest["size_bytes"] == result.artifact.stat().st_size
    onnx.checker.check_model(str(result.artifact), full_check=True)


def test_exported_graph_has_a_dynamic_batch_and_classifies_digits(tmp_path, trained_resnet):
    path = export_model(trained_resnet, ExportRequest(out_dir=tmp_path)).artifact
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "input"
    assert isinstance(session.get_inputs()[0].shape[0], str)  # symbolic batch axis
    data = load_dataset("digits")
    logits = session.run(None, {"input": prepare(data.images, trained_resnet.spec)})[0]
    assert logits.shape == (400, 10)
    assert np.mean(logits.argmax(1) == data.labels) > 0.95


def test_static_batch_and_custom_name(tmp_path):
    loaded = load_model("demo_mobilenet_v2")
    result = export_model(loaded, ExportRequest(out_dir=tmp_path, name="mnv2", dynamic_batch=False))
    session = ort.InferenceSession(str(result.artifact), providers=["CPUExecutionProvider"])
    assert result.artifact.name == "mnv2.onnx" and session.get_inputs()[0].shape[0] == 1


def test_onnx_source_is_passed_through_checked(tmp_path, trained_resnet):
    first = export_model(trained_resnet, ExportRequest(out_dir=tmp_path / "a")).artifact
    again = export_model(str(first), ExportRequest(out_dir=tmp_path / "b"))
    assert again.manifest.exporter["name"] == "passthrough"
    assert again.artifact.read_bytes() == first.read_bytes()
    assert again.manifest.input == trained_resnet.spec  # spec came from the first manifest


def test_verification_failure_leaves_nothing(tmp_path):
    impossible = Tolerance(max_abs=0.0, min_cosine=1.0, min_top1_agreement=1.0)
    with pytest.raises(VerificationError, match="disagrees with its source"):
        export_model("demo_resnet", ExportRequest(out_dir=tmp_path, tolerance=impossible))
    assert list(tmp_path.iterdir()) == []


def test_torchvision_classifier_at_small_size(tmp_path):
    opts = SourceOptions(num_classes=10, input_shape=(1, 3, 64, 64))
    result = export_model("mobilenet_v3_small", ExportRequest(out_dir=tmp_path), opts)
    assert result.manifest.verification["cosine"] > 0.9999


@pytest.mark.slow
@pytest.mark.parametrize("name", SEED_ARCHITECTURES)
def test_seed_architectures_export_at_full_size(tmp_path, name):
    result = export_model(name, ExportRequest(out_dir=tmp_path, verify_samples=8))
    assert result.manifest.verification["passed"]
    assert result.manifest.input.hw == ((299, 299) if name == "inception_v3" else (224, 224))
