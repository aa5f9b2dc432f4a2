"""layers.json and its renderings: schema round trip, Markdown, HTML, Model Explorer overlays."""

from __future__ import annotations

import json

import pytest

from deploykit.errors import InputError
from deploykit.layers.api import LayersRequest, layer_report
from deploykit.layers.outputs import write_outputs
from deploykit.layers.report import SCHEMA, read_report
from tests.layers.conftest import CULPRIT_NODE


@pytest.fixture(scope="module")
def written(culprit, layers_work):
    out = layers_work / "outputs"
    request = LayersRequest(backends=("onnxruntime",), samples=8, runs=5)
    report = layer_report(culprit["int8"], request, out)
    return report, write_outputs(report, out, k=5), out


def test_json_round_trip_and_schema(written, tmp_path):
    report, files, _ = written
    again = read_report(files["json"])
    assert again.to_dict() == report.to_dict()
    data = json.loads(files["json"].read_text())
    assert data["schema"] == SCHEMA and data["reference"]["onnx"] == "reference.onnx"
    data["schema"] = "deploykit.layers/99"
    (tmp_path / "future.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"schema deploykit\.layers/99"):
        read_report(tmp_path / "future.json")
    del data["schema"]
    (tmp_path / "other.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="not a deploykit layer report"):
        read_report(tmp_path / "other.json")


def test_markdown_and_html(written):
    _, files, _ = written
    markdown = files["markdown"].read_text()
    assert "## onnxruntime" in markdown and f"| 1 | {CULPRIT_NODE} |" in markdown
    assert "per-layer sum" in markdown and "end-to-end median" in markdown
    page = files["html"].read_text()
    assert page.startswith("<!doctype html>") and "<script>" in page
    assert "http" not in page.replace("http://www.w3.org", "")  # nothing loaded from outside
    assert page.count("<tr>") == 1 + len(written[0].layers)
    assert 'class="bar lat"' in page and 'class="bar acc"' in page


def test_overlay_keys_are_model_explorer_node_ids(written, culprit):
    pytest.importorskip("model_explorer_onnx", reason="needs the viewer extra")
    from model_explorer_onnx.main import ONNXAdapter

    _, files, out = written
    index = json.loads(files["explorer"].read_text())
    graphs = ONNXAdapter().convert(str(culprit["int8"]), {})["graphs"]
    ids = {g.id: {n.id for n in g.nodes} for g in graphs}
    assert len(index["files"]) == 3  # local SQNR, SQNR and time on onnxruntime
    for name in index["files"]:
        data = json.loads((out / "explorer" / name).read_text())
        for graph_id, node_data in data.items():
            keys = set(node_data["results"])
            assert keys and keys <= ids[graph_id], keys - ids[graph_id]
