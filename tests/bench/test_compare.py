"""`deploykit compare`: normalised latency, paired accuracy, JUnit and Markdown, exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from deploykit.bench.stats import pack_bits, unpack_bits


@pytest.fixture
def results(smoke_run):
    return json.loads((smoke_run / "results.json").read_text())


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def _slower(data, factor, only=None, extra=1.0):
    """A machine ``factor`` times slower (latencies and probes); the cell ``only`` ``extra`` more."""
    for cell in data["cells"]:
        if cell["latency"]:
            scale = factor * (extra if cell["key"] == only else 1.0)
            for name in ("mean_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"):
                cell["latency"][name] *= scale
                cell["probe"][name] *= factor
    return data


def _non_reference_key(data):
    return next(c["key"] for c in data["cells"] if not c["reference"] and c["batch"] == 1)


def test_identical_results_pass_and_write_junit_and_markdown(cli, smoke_run, tmp_path):
    results = smoke_run / "results.json"
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    result = cli("compare", results, "--baseline", results, "--junit", junit, "--markdown", summary)
    assert result.code == 0, result.stdout + result.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) >= 12 and suite.get("failures") == "0"
    assert {c.get("name") for c in cases} >= {"status", "latency", "top1"}
    text = summary.read_text()
    assert "no regressions" in text and "| ✅ |" in text


def test_uniformly_slower_machine_is_not_a_regression(cli, results, smoke_run, tmp_path):
    slower = _write(tmp_path / "slow.json", _slower(results, 2.0))
    result = cli("compare", slower, "--baseline", smoke_run / "results.json")
    assert result.code == 0, result.stdout


def test_thirty_percent_regression_fails_even_on_a_2x_slower_machine(
    cli, results, smoke_run, tmp_path
):
    key = _non_reference_key(results)
    regressed = _write(tmp_path / "reg.json", _slower(results, 2.0, only=key, extra=1.3))
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    result = cli(
        "compare",
        regressed,
        "--baseline",
        smoke_run / "results.json",
        "--junit",
        junit,
        "--markdown",
        summary,
    )
    assert result.code == 1
    failures = [c for c in ET.parse(junit).iter("testcase") if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failures] == [
        (f"deploykit.bench.{key}", "latency")
    ]
    assert "1.30x" in failures[0].find("failure").get("message")
    assert "1 regression(s)" in summary.read_text()


def _flip(data, key, count):
    """Make ``count`` images this cell got right wrong (per-image record and top-1)."""
    cell = next(c for c in data["cells"] if c["key"] == key)
    acc = cell["accuracy"]
    correct = unpack_bits(acc["correct"], acc["n"])
    idx = np.flatnonzero(correct)[:count]
    assert len(idx) == count
    correct[idx] = False
    acc["correct"], acc["top1"] = pack_bits(correct), float(correct.mean())
    return data


def test_small_accuracy_dip_passes_and_real_drop_fails(cli, results, smoke_run, tmp_path):
    key = _non_reference_key(results)
    baseline = smoke_run / "results.json"
    dip = _write(tmp_path / "dip.json", _flip(json.loads(json.dumps(results)), key, 1))
    assert cli("compare", dip, "--baseline", baseline).code == 0
    drop = _write(tmp_path / "drop.json", _flip(results, key, 10))
    result = cli("compare", drop, "--baseline", baseline)
    assert result.code == 1 and "10 newly wrong" in result.stdout


def test_floor_and_missing_cells_fail(cli, results, smoke_run, tmp_path):
    baseline = smoke_run / "results.json"
    assert cli("compare", baseline, "--baseline", baseline, "--top1-floor", "0.99").code == 1
    results["cells"] = results["cells"][:-1]
    missing = _write(tmp_path / "missing.json", results)
    result = cli("compare", missing, "--baseline", baseline)
    assert result.code == 1 and "cell missing" in result.stdout


def test_update_baseline_writes_atomically(cli, smoke_run, tmp_path):
    baseline = tmp_path / "base.json"
    assert (
        cli("compare", smoke_run / "results.json", "--baseline", baseline, "--update-baseline").code
        == 0
    )
    data = json.loads(baseline.read_text())
    assert data["schema"] == "deploykit.bench/2" and len(data["cells"]) == 4
    assert cli("compare", smoke_run / "results.json", "--baseline", baseline).code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["base.json"]  # no temp file left


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "is not a deploykit results file"),
        ('{"schema": "other/1", "cells": []}', "is not a deploykit results file"),
        (
            '{"schema": "deploykit.bench/2", "cells": [{"item": 1}]}',
            "is not a deploykit results file",
        ),
        ("[1, 2]", "is not a deploykit results file"),
    ],
)
def test_malformed_results_answer_with_one_line(
    cli, user_error, smoke_run, tmp_path, content, fragment
):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    junit = tmp_path / "junit.xml"
    result = cli("compare", bad, "--baseline", smoke_run / "results.json", "--junit", junit)
    user_error(result, fragment)
    assert result.code == 2 and not junit.exists()
    user_error(
        cli("compare", smoke_run / "results.json", "--baseline", tmp_path / "nope.json"),
        "does not exist",
    )


def test_version_1_results_still_load(smoke_run, tmp_path):
    from deploykit.bench.results import read_results

    data = json.loads((smoke_run / "results.json").read_text())
    data["schema"] = "deploykit.bench/1"
    for cell in data["cells"]:
        for new in ("memory", "wall_s"):
            cell.pop(new)
    run = read_results(_write(tmp_path / "v1.json", data))
    assert len(run.cells) == 4 and run.cells[0].memory is None


def test_repeats_are_merged_so_a_burst_of_load_washes_out(cli, results, smoke_run, tmp_path):
    key = _non_reference_key(results)
    baseline = smoke_run / "results.json"
    burst = _write(tmp_path / "burst.json", _slower(json.loads(json.dumps(results)), 1.0, key, 1.5))
    calm = _write(tmp_path / "calm.json", _slower(results, 1.1))
    assert cli("compare", burst, "--baseline", baseline).code == 1
    assert cli("compare", burst, calm, "--baseline", baseline).code == 0
