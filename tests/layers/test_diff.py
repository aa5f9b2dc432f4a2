"""Layer reports in CI: `deploykit compare` names the layer that regressed."""

from __future__ import annotations

import json

import pytest

from deploykit.layers.api import LayersRequest, layer_report
from deploykit.layers.report import write_report
from tests.layers.conftest import CULPRIT_NODE


@pytest.fixture(scope="module")
def baseline(culprit, layers_work):
    out = layers_work / "diff-base"
    request = LayersRequest(backends=("onnxruntime",), samples=8, runs=5)
    return write_report(layer_report(culprit["int8"], request, out), out)


def _edited(path, tmp_path, edit):
    data = json.loads(path.read_text())
    for row in data["layers"]:
        edit(row)
    target = tmp_path / "layers.json"
    target.write_text(json.dumps(data))
    return target


def test_a_layer_that_lost_accuracy_fails_by_name(cli, baseline, tmp_path):
    def worse(row):
        if row["node"] == "node_Conv_140":
            row["accuracy"]["onnxruntime"]["local_sqnr_db"] -= 10

    result = cli("compare", _edited(baseline, tmp_path, worse), "--baseline", baseline)
    assert result.code == 1
    failing = [line for line in result.stdout.splitlines() if line.startswith("| ❌")]
    assert len(failing) == 1 and "onnxruntime · node_Conv_140" in failing[0]


def test_a_layer_that_got_slower_fails_and_the_same_report_passes(cli, baseline, tmp_path):
    def slower(row):
        lat = row["latency"].get("onnxruntime")
        if row["node"] == CULPRIT_NODE and lat:
            lat["share"], lat["ms"] = lat["share"] * 3 + 0.05, lat["ms"] * 3

    assert cli("compare", baseline, "--baseline", baseline).code == 0
    result = cli("compare", _edited(baseline, tmp_path, slower), "--baseline", baseline)
    assert result.code == 1 and f"onnxruntime · {CULPRIT_NODE}` | layer_time" in result.stdout


def test_malformed_or_unrelated_reports_exit_2(cli, user_error, baseline, tmp_path):
    def renamed(row):
        row["node"] = "other_" + row["node"]

    user_error(
        cli("compare", _edited(baseline, tmp_path, renamed), "--baseline", baseline),
        "share no node names",
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "deploykit.layers/1", "layers": 3}')
    user_error(cli("compare", broken, "--baseline", baseline), "malformed")
