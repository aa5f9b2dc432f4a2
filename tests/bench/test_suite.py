"""Suites: a real end-to-end run on CPU, artifact caching, and one-line validation errors."""

from __future__ import annotations

import json

import pytest

from deploykit.bench.suite import load_suite, prepare_items

from .conftest import SMOKE_SUITE


def test_smoke_suite_runs_end_to_end_with_real_backends(smoke_run):
    data = json.loads((smoke_run / "results.json").read_text())
    assert data["schema"] == "deploykit.bench/2" and data["complete"]
    assert data["config"]["suite"]["name"] == "cpu-smoke"
    cells = {c["key"]: c for c in data["cells"]}
    assert set(cells) == {
        "demo_resnet.onnx|onnxruntime|fp32|b1",
        "demo_resnet.onnx|onnxruntime|fp32|b8",
        "demo_resnet|torch|fp32|b1",
        "demo_resnet|torch|fp32|b8",
    }
    for cell in cells.values():
        assert cell["status"] == "ok", cell["error"]
        assert cell["latency"]["p50_ms"] > 0 and cell["latency"]["n"] >= 50
        assert 0 < cell["memory"]["peak_rss_mib"] < 4096
        low, high = cell["accuracy"]["top1_ci"]
        assert low <= cell["accuracy"]["top1"] <= high and cell["accuracy"]["n"] == 200
    ref = cells["demo_resnet.onnx|onnxruntime|fp32|b1"]
    assert ref["reference"] and ref["size_bytes"] > 100_000
    # Seeded random init: the torch source and its ONNX export agree on every image.
    torch_b1 = cells["demo_resnet|torch|fp32|b1"]
    assert torch_b1["fidelity"]["top1_agreement"] == 1.0
    assert torch_b1["accuracy"]["vs_reference"]["p_value"] == 1.0
    # Batch 8 measures batch-8 calls: throughput is images per second.
    b8 = cells["demo_resnet.onnx|onnxruntime|fp32|b8"]["latency"]
    assert b8["throughput"] == pytest.approx(8e3 / b8["mean_ms"])
    env = data["environment"]
    assert env["cpu"]["logical_cores"] >= 1 and "onnxruntime" in env["libraries"]
    for name in ("results.csv", "results.md", "report.html"):
        assert (smoke_run / name).stat().st_size > 200


def test_rerun_reuses_cached_artifacts(smoke_run):
    items, records = prepare_items(load_suite(SMOKE_SUITE), smoke_run)
    assert [r["reused"] for r in records] == [True]
    assert [i.ref for i in items] == [records[0]["artifact"], "demo_resnet"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("models: [demo_resnet]\nbatchs: [1]\n", "batchs: unknown key"),
        ("models: []\n", "models: missing or empty"),
        ("models: [demo_resnet]\nbatch: [0]\n", "batch: 0 is out of range"),
        ("models: [demo_resnet]\nbatch: [1, x]\n", "batch[1]: expected int"),
        ("models: [demo_resnet]\nbackends: [onnxrt]\n", "backends: unknown value 'onnxrt'"),
        ("models: [demo_resnet]\nexports: [{target: onx}]\n", "exports[0].target: unknown value"),
        ("models: [demo_resnet]\nexports: [{opset: 99}]\n", "exports[0].opset: 99 is out of range"),
        ("models: [demo_resnet]\ntiming: {min_iters: .nan}\n", "timing.min_iters: expected int"),
        ("models: [demo_resnet]\ntiming: {min_s: .nan}\n", "timing.min_s: nan is not a finite"),
        ("models: [demo_resnet]\nlimit: -395\n", "limit: -395 is out of range"),
        (
            "models: [demo_resnet]\nexports: [{target: trt, precision: int4}]\n",
            "exports[0].precision",
        ),
        ("models: [{ref: demo_resnet, weights: nope.pt}]\n", "models[0].weights: file"),
        ("models: [demo_resnet]\ntiming: {min_s: fast}\n", "timing.min_s: expected float"),
        ("models: [demo_resnet]\ntolerances: {latency: -1}\n", "tolerances.latency"),
        ("models: [demo_resnet]\nrunner_options: {reencode: fastest}\n", "reencode: unknown value"),
        ("models: [demo_resnet]\nrunner_options: {threads: 2}\n", "no backend of this run"),
        ("models: [demo_resnet\n", "line 2"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_malformed_suites_answer_with_one_line(cli, user_error, tmp_path, text, fragment):
    suite = tmp_path / "bad.yaml"
    suite.write_text(text)
    result = cli("bench", "--suite", suite, "-o", tmp_path / "out")
    user_error(result, f"suite {suite}", fragment)
    assert not (tmp_path / "out").exists()


def test_missing_suite_and_items_with_suite(cli, user_error, tmp_path):
    user_error(cli("bench", "--suite", tmp_path / "none.yaml"), "does not exist")
    user_error(cli("bench", "demo_resnet", "--suite", SMOKE_SUITE), "either ITEMS or --suite")
