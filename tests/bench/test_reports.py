"""Report formats (CSV, Markdown, HTML) and environment capture."""

from __future__ import annotations

import csv
import io
import re

from deploykit.bench.environment import jetson_info
from deploykit.bench.formats import CSV_COLUMNS, to_csv
from deploykit.bench.html import pareto_front
from deploykit.bench.results import read_results


def test_csv_markdown_and_html_reports(smoke_run):
    rows = list(csv.DictReader(io.StringIO((smoke_run / "results.csv").read_text())))
    assert len(rows) == 4 and tuple(rows[0]) == CSV_COLUMNS
    assert float(rows[0]["p50_ms"]) > 0 and rows[0]["reference"] == "True"
    assert (
        to_csv(read_results(smoke_run / "results.json")) == (smoke_run / "results.csv").read_text()
    )
    md = (smoke_run / "results.md").read_text()
    assert md.count("| demo_resnet") == 4 and "(ref)" in md and "95 % CI" in md
    page = (smoke_run / "report.html").read_text()
    assert page.startswith("<!doctype html>") and page.count("<svg") == 3
    # Self-contained: nothing fetched from elsewhere.
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    for title in ("Latency vs accuracy", "Latency per backend", "Batch-size scaling"):
        assert title in page


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 90.0), (2.0, 95.0), (3.0, 94.0), (0.5, 80.0), (2.5, 95.0)]
    assert pareto_front(points) == [3, 0, 1]


def test_jetson_info_reads_release_model_from_a_device_tree(tmp_path):
    assert jetson_info(tmp_path) == {}
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/nv_tegra_release").write_text(
        "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\n"
    )
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_text("NVIDIA Jetson Orin Nano Developer Kit\x00")
    info = jetson_info(tmp_path)
    assert info["l4t"] == "36.4.3" and info["jetpack"] == "6.x"
    assert info["model"] == "NVIDIA Jetson Orin Nano Developer Kit"


def test_runner_warnings_reach_the_summary(smoke_run):
    """A runner's warning (here the no-VNNI INT8 one) is printed once, naming its cells."""
    import dataclasses

    from deploykit.bench.report import summary_lines

    run = read_results(smoke_run / "results.json")
    warning = "this CPU has no VNNI, so INT8 products ... --option weights=int7"
    cells = [
        dataclasses.replace(c, runner={**c.runner, "details": {"warnings": [warning]}})
        if c.backend == "onnxruntime"
        else c
        for c in run.cells
    ]
    lines = summary_lines(dataclasses.replace(run, cells=cells))
    flagged = [line for line in lines if line.startswith("! ")]
    assert flagged == [f"! demo_resnet.onnx on onnxruntime: {warning}"]
    assert not [line for line in summary_lines(run) if line.startswith("! ")]
