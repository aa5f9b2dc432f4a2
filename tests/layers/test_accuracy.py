"""Per-layer accuracy: the culprit layer ranks first, on ONNX Runtime and on LiteRT."""

from __future__ import annotations

import numpy as np
import pytest

from deploykit.layers.api import LayersRequest, layer_report
from deploykit.layers.report import worst_layers
from tests.layers.conftest import CULPRIT_NODE, culprit_model


def test_culprit_ranks_first_on_onnxruntime(culprit, layers_work):
    request = LayersRequest(backends=("onnxruntime",), latency=False, samples=16, sensitivity=4)
    report = layer_report(culprit["int8"], request, layers_work / "ort-acc")
    ranking = worst_layers(report, "onnxruntime")
    first = ranking[0].accuracy["onnxruntime"]
    assert ranking[0].node == CULPRIT_NODE, [r.node for r in ranking[:3]]
    assert first["local"] == "measured" and first["local_sqnr_db"] < 5
    # Measured: the culprit (with the ReLU it runs fused with) kept in FP32 brings the output
    # back; no other of the 4 layers measured recovers anything like it.
    summary = report.backends["onnxruntime"]["accuracy"]["sensitivity"]
    assert summary["measured"] == 4 and summary["int8"]["cosine"] < 0.8
    kept = first["fp32_recovery"]
    assert kept["kept"] == [CULPRIT_NODE, "node_relu_3"] and kept["weights"] == "reference"
    assert kept["recovered"] > 0.7 and kept["agreement_change"] > 0.3
    assert kept["agreement"] == pytest.approx(
        summary["int8"]["agreement"] + kept["agreement_change"]
    )
    assert kept["top1_change"] > 20  # points, on 16 labelled digits
    others = [r.accuracy["onnxruntime"].get("fp32_recovery") for r in ranking[1:]]
    measured = [o for o in others if o]
    assert len(measured) == 3 and all(o["recovered"] < 0.3 for o in measured)
    # Layers upstream of the culprit keep INT8's usual ~30-40 dB, locally and cumulatively.
    before = report.row("node_Conv_140").accuracy["onnxruntime"]
    assert before["local_sqnr_db"] > 25 and before["sqnr_db"] > 25
    # Downstream layers inherit the damage cumulatively but are not themselves to blame.
    after = report.row("node_Conv_152").accuracy["onnxruntime"]
    assert after["sqnr_db"] < 10 < after["local_sqnr_db"]


def test_every_layer_kept_in_fp32_is_the_fp32_model(culprit):
    """Removing every layer's Q/DQ pairs and restoring its weights gives back the source."""
    import onnx

    from deploykit.export.sensitivity import logits
    from deploykit.layers.graph import Graph
    from deploykit.layers.recovery import QDQ_OPS, keep_fp32

    artifact, source = onnx.load(str(culprit["int8"])), onnx.load(str(culprit["fp32"]))
    model, weights = keep_fp32(artifact, source, Graph.from_model(source).layers())
    assert weights == "reference"
    assert not [n for n in model.graph.node if n.op_type in QDQ_OPS]
    x = np.random.default_rng(0).normal(size=(4, 3, 32, 32)).astype(np.float32)
    fp32, kept = logits(culprit["fp32"], x), logits(model.SerializeToString(), x)
    assert np.abs(fp32 - kept).max() < 1e-3 * np.abs(fp32).max()
    assert np.abs(fp32 - logits(culprit["int8"], x)).max() > 0.1 * np.abs(fp32).max()


def test_fp16_intermediates_are_close(trained_resnet, layers_work):
    from deploykit.export import ExportRequest, export_model

    out = layers_work / "fp16"
    fp32 = export_model(trained_resnet, ExportRequest(out_dir=out, verify=False)).artifact
    fp16 = export_model(
        str(fp32), ExportRequest(out_dir=out, precision="fp16", verify=False)
    ).artifact
    request = LayersRequest(backends=("onnxruntime",), latency=False, samples=8)
    report = layer_report(fp16, request, out / "report")
    figures = [r.accuracy["onnxruntime"] for r in report.layers]
    assert len(figures) == len(report.layers) > 10
    assert all(f["sqnr_db"] > 45 and f["cosine"] > 0.9999 for f in figures)


@pytest.mark.slow  # the TFLite export (onnx2tf, then the converter) takes ~35 s on two cores
def test_culprit_ranks_first_on_litert(trained_resnet, layers_work, calib_set):
    pytest.importorskip("ai_edge_litert", reason="needs the tflite extra")
    from deploykit.export import ExportRequest, export_model

    out = layers_work / "tflite"
    loaded = culprit_model(trained_resnet)
    artifact = export_model(
        loaded,
        ExportRequest(
            target="tflite", precision="int8", calib=calib_set, out_dir=out, verify=False
        ),
    ).artifact
    fp32 = export_model(loaded, ExportRequest(out_dir=out, verify=False)).artifact
    request = LayersRequest(reference=str(fp32), samples=16)
    report = layer_report(artifact, request, out / "report")
    ranking = worst_layers(report, "litert")
    assert ranking[0].node == CULPRIT_NODE, [r.node for r in ranking[:3]]
    first = ranking[0].accuracy["litert"]
    # TFLite fused the ReLU into the conv: the row names both, and the loss is estimated.
    assert first["members"] == [CULPRIT_NODE, "node_relu_3"] and first["local"] == "estimated"
    assert report.backends["litert"]["accuracy"]["unmatched"] == []
    # Past the culprit the signal is lost: no local estimate rather than a wrong one.
    assert report.row("node_Conv_152").accuracy["litert"]["local_sqnr_db"] is None
    assert "no per-op times" in report.backends["litert"]["notes"][0]
