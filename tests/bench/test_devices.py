"""The device axis of fleet results: reports grouped by device, compare normalised per device."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

from deploykit.bench.devices import device_names, fastest_matrix, matrix_markdown
from deploykit.bench.formats import to_markdown
from deploykit.bench.html import to_html
from deploykit.bench.report import results_tables
from deploykit.bench.results import BenchRun


def _fleet(results: dict, factors: dict[str, float]) -> dict:
    """The smoke run as if measured on two devices, each device's latencies times its factor."""
    cells = []
    for device, factor in factors.items():
        for cell in copy.deepcopy(results["cells"]):
            cell["device_name"] = cell["ran_on"] = device
            if cell["latency"]:
                for name in ("mean_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"):
                    cell["latency"][name] *= factor
                    cell["probe"][name] *= factor  # a slower device runs the probe slower too
            cells.append(cell)
    devices = {d: results["environment"] for d in factors}
    return {**results, "cells": cells, "devices": devices}


def test_reports_group_by_device(smoke_run):
    results = json.loads((smoke_run / "results.json").read_text())
    run = BenchRun.from_dict(_fleet(results, {"fast": 1.0, "slow": 3.0}))
    assert device_names(run) == ["fast", "slow"]
    assert len({c.key for c in run.cells}) == len(run.cells)  # keys carry the device
    best = fastest_matrix(run)
    for (device, artifact), winner in best.items():
        if device == "slow":
            assert winner.backend == best[("fast", artifact)].backend
            assert abs(winner.p50_ms / best[("fast", artifact)].p50_ms - 3.0) < 1e-6
    markdown = to_markdown(run)
    assert "\n".join(matrix_markdown(run)) in markdown
    assert "| device | item | backend |" in markdown
    latency = results_tables(run)[0]
    first = [str(c) for c in latency.columns[0]._cells]
    assert any(text.startswith("fast: ") for text in first)  # rows named by their device
    page = to_html(run)
    assert (
        page.count("<table>") == 2
        and "id='filters'" in page
        and "'device','backend','prec'" in page
    )
    round_trip = BenchRun.from_dict(run.to_dict())
    assert round_trip.devices.keys() == {"fast", "slow"}


def test_compare_normalises_each_device_by_its_own_reference(smoke_run, cli, tmp_path):
    results = json.loads((smoke_run / "results.json").read_text())
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(_fleet(results, {"fast": 1.0, "slow": 1.0})))
    uniformly_slower = tmp_path / "current.json"
    uniformly_slower.write_text(json.dumps(_fleet(results, {"fast": 1.0, "slow": 3.0})))
    # a whole device 3x slower (another power mode, say) is no regression per device
    assert cli("compare", uniformly_slower, "--baseline", baseline).code == 0

    data = _fleet(results, {"fast": 1.0, "slow": 1.0})
    victim = next(
        c
        for c in data["cells"]
        if c["device_name"] == "slow" and c["latency"] and not c["reference"]
    )
    for name in ("mean_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"):
        victim["latency"][name] *= 3.0
    one_cell = tmp_path / "one.json"
    one_cell.write_text(json.dumps(data))
    junit = tmp_path / "junit.xml"
    result = cli("compare", one_cell, "--baseline", baseline, "--junit", junit)
    assert result.code == 1 and "1 failed" in result.stdout
    key = f"slow|{victim['label']}|{victim['backend']}|{victim['precision']}|b{victim['batch']}"
    failed = [c for c in ET.parse(junit).iter("testcase") if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [
        (f"deploykit.bench.{key}", "latency")
    ]
