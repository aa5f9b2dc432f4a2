"""OpenVINO IR export: the .xml/.bin pair, its hashes, both INT8 quantizers, atomic failure, bench.

Every (target, precision) row, the IR's included, is exported, verified and run by
tests/test_capability_table.py; this file covers what only the IR has.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.errors import VerificationError
from deploykit.export import ExportRequest, export_model
from deploykit.export.verify import Tolerance
from deploykit.fileio import sha256_file
from deploykit.runners import RunnerOptions, open_runner
from deploykit.runners.cpu import local_int8_weights

pytest.importorskip("openvino", reason="the openvino extra is not installed")


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    return make_calibration_set("digits", 32, 0, tmp_path_factory.mktemp("calib") / "c.npz")


def top1(result) -> float:
    """Top-1 on 200 digits test images, run by the OpenVINO runner from the artifact's manifest."""
    data = load_dataset("digits", "test", limit=200)
    options = RunnerOptions(threads=2, precision=result.manifest.precision)
    with open_runner("openvino", result.artifact, result.manifest.input, options) as runner:
        logits = runner.infer(prepare(data.images, result.manifest.input))
    return float(np.mean(logits.argmax(1) == data.labels))


@pytest.mark.parametrize("quantizer", ["qdq", "nncf"])
def test_int8_ir_pair_records_its_quantizer_and_hashes(quantizer, trained_resnet, calib, tmp_path):
    options = {"quantizer": quantizer}
    if quantizer == "qdq":
        options["weights"] = local_int8_weights()
    request = ExportRequest(
        target="openvino", precision="int8", calib=calib, out_dir=tmp_path, options=options
    )
    result = export_model(trained_resnet, request)
    xml, weights = result.artifact, result.artifact.with_suffix(".bin")
    assert xml.name.startswith("demo_resnet_int8") and xml.name.endswith("_openvino.xml")
    assert weights.is_file()
    manifest = json.loads(xml.with_suffix(".json").read_text())
    assert manifest["sha256"] == sha256_file(xml)
    assert manifest["companions"] == {weights.name: sha256_file(weights)}
    assert manifest["verification"]["backend"] == "openvino"
    assert manifest["verification"]["top1_agreement"] >= 0.95
    assert manifest["exporter"]["quantizer"]["name"] == quantizer
    if quantizer == "nncf":  # fast bias correction is NNCF's default, and not steady enough
        assert "full bias correction" in manifest["exporter"]["quantizer"]["tool"]
    assert manifest["calibration"]["sha256"] == sha256_file(calib)
    assert top1(result) >= 0.95
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [xml.name, weights.name, xml.with_suffix(".json").name]
    )


def test_failed_verification_leaves_neither_file(trained_resnet, calib, tmp_path):
    impossible = Tolerance(max_abs=0.0, min_cosine=1.0, min_top1_agreement=1.0)
    request = ExportRequest(
        target="openvino", precision="int8", calib=calib, out_dir=tmp_path, tolerance=impossible
    )
    with pytest.raises(VerificationError):
        export_model(trained_resnet, request)
    assert list(tmp_path.iterdir()) == []


def test_bench_reads_the_ir_from_its_manifest(trained_resnet, tmp_path, cli):
    result = export_model(trained_resnet, ExportRequest(target="openvino", out_dir=tmp_path))
    report = tmp_path / "r.json"
    run = cli(
        "bench", result.artifact, "--iters", "5", "--min-time", "0.05", "--warmup", "2",
        "--limit", "32", "--json", report,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    (cell,) = json.loads(report.read_text())["cells"]
    assert cell["backend"] == "openvino" and cell["status"] == "ok" and cell["fmt"] == "openvino"
    assert (
        cell["size_bytes"]
        == result.manifest.size_bytes + result.artifact.with_suffix(".bin").stat().st_size
    )
    assert cell["accuracy"]["top1"] >= 0.9
