"""The gate cannot be fooled: malformed inputs exit 2, partial baselines are refused,
and the reference cell is gated against the machine-speed probe."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def results(smoke_run):
    return json.loads((smoke_run / "results.json").read_text())


def _write(path, data):
    path.write_text(json.dumps(data))  # NaN / Infinity written as JSON parsers accept them
    return path


def _times(stats, factor):
    for name in list(stats):
        if name.endswith("_ms"):
            stats[name] *= factor
    stats["throughput"] /= factor


def _cell(data, backend, batch=1):
    return next(c for c in data["cells"] if c["backend"] == backend and c["batch"] == batch)


MALFORMED = [
    (lambda d: _cell(d, "torch")["latency"].update(p50_ms=float("nan")), "p50_ms is nan"),
    (lambda d: _cell(d, "torch")["latency"].update(min_ms=float("inf")), "min_ms is inf"),
    (lambda d: _cell(d, "torch")["latency"].update(p50_ms=0), "p50_ms is 0"),
    (lambda d: _cell(d, "torch")["latency"].update(p50_ms=None), "p50_ms is None"),
    (lambda d: _cell(d, "torch")["latency"].update(p50_ms="0.2"), "p50_ms is '0.2'"),
    (lambda d: _cell(d, "torch")["accuracy"].update(correct="AAAA"), "holds 24 bits"),
    (lambda d: _cell(d, "torch")["accuracy"].update(correct="!!"), "not valid base64"),
    (lambda d: _cell(d, "torch")["accuracy"].update(top1="0.9"), "top1 is '0.9'"),
    (lambda d: _cell(d, "torch")["accuracy"].update(top1=1.5), "top1 is 1.5"),
    (lambda d: _cell(d, "onnxruntime")["probe"].update(min_ms=float("nan")), "probe.min_ms"),
    (lambda d: d["cells"].append(d["cells"][0]), "repeats the cell"),
    (lambda d: d.update(complete="yes"), "complete is 'yes'"),
]


@pytest.mark.parametrize(("edit", "fragment"), MALFORMED)
def test_malformed_results_and_baselines_exit_2(
    cli, user_error, results, smoke_run, tmp_path, edit, fragment
):
    edit(results)
    bad = _write(tmp_path / "bad.json", results)
    good = smoke_run / "results.json"
    for args in ((bad, "--baseline", good), (good, "--baseline", bad)):
        result = cli("compare", *args)
        user_error(result, "is not a deploykit results file", fragment)
        assert result.code == 2


@pytest.mark.parametrize(
    ("flag", "value", "fragment"),
    [
        ("--latency-tolerance", "nan", "not a finite number"),
        ("--alpha", "nan", "not a finite number"),
        ("--top1-floor", "nan", "not a finite number"),
        ("--latency-tolerance", "-1", "out of range"),
        ("--alpha", "0", "out of range"),
        ("--normaliser", "median", "unknown value"),
    ],
)
def test_non_finite_and_out_of_range_options_exit_2(
    cli, user_error, smoke_run, flag, value, fragment
):
    results = smoke_run / "results.json"
    result = cli("compare", results, "--baseline", results, flag, value)
    user_error(result, flag, fragment)
    assert result.code == 2


@pytest.mark.parametrize(
    ("stored", "fragment"),
    [
        ({"latency": -0.9}, "tolerances.latency: -0.9 is out of range"),
        ({"alpha": 7}, "tolerances.alpha: 7 is out of range"),
        ({"latency": float("nan")}, "tolerances.latency: nan is not a finite number"),
        ({"latency": "0.25"}, "tolerances.latency: expected float"),
        ({"slack": 1}, "tolerances.slack: unknown key"),
    ],
)
def test_tolerances_stored_in_a_baseline_are_checked_like_options(
    cli, user_error, results, smoke_run, tmp_path, stored, fragment
):
    results["config"]["tolerances"] = stored
    baseline = _write(tmp_path / "base.json", results)
    result = cli("compare", smoke_run / "results.json", "--baseline", baseline)
    user_error(result, str(baseline), fragment)
    assert result.code == 2


PARTIAL = [
    (lambda d: d.update(complete=False), "interrupted run", True),
    (lambda d: d["cells"].pop(), "lack 1 of the baseline's measured cells", False),
    (lambda d: _cell(d, "torch").update(status="failed", error="x"), "1 cell(s) failed", True),
]


@pytest.mark.parametrize(("edit", "fragment", "never_a_baseline"), PARTIAL)
def test_update_baseline_refuses_a_partial_run(
    cli, user_error, results, smoke_run, tmp_path, edit, fragment, never_a_baseline
):
    baseline = tmp_path / "base.json"
    baseline.write_bytes((smoke_run / "results.json").read_bytes())
    before = baseline.read_bytes()
    edit(results)
    partial = _write(tmp_path / "partial.json", results)
    result = cli("compare", partial, "--baseline", baseline, "--update-baseline")
    user_error(result, fragment, "--allow-partial")
    assert result.code == 2 and baseline.read_bytes() == before
    if never_a_baseline:  # not even a first one (fewer cells than nothing is fine)
        fresh = tmp_path / "fresh.json"
        user_error(cli("compare", partial, "--baseline", fresh, "--update-baseline"), fragment)
        assert not fresh.exists()
    forced = cli("compare", partial, "--baseline", baseline, "--update-baseline", "--allow-partial")
    assert forced.code == 0 and baseline.read_bytes() != before


def test_a_slower_reference_fails_against_the_probe(cli, results, smoke_run, tmp_path):
    # The reference 40 % slower reads as everyone else 40 % faster relative to it; the
    # probe, measured in the same process, still shows the reference regressed.
    for cell in results["cells"]:
        if cell["reference"]:
            _times(cell["latency"], 1.4)
    slow = _write(tmp_path / "slow.json", results)
    result = cli("compare", slow, "--baseline", smoke_run / "results.json")
    assert result.code == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("| ❌")]
    assert len(failed) == 2 and all("onnxruntime" in line for line in failed)
    assert all("machine-speed probe" in line and "1.40x" in line for line in failed)


def test_a_one_item_run_is_gated_by_the_probe(cli, results, tmp_path):
    results["cells"] = [c for c in results["cells"] if c["backend"] == "onnxruntime"]
    baseline = _write(tmp_path / "base.json", results)
    for cell in results["cells"]:
        _times(cell["latency"], 2.0)
        _times(cell["probe"], 2.0)
    machine = _write(tmp_path / "machine.json", results)
    assert cli("compare", machine, "--baseline", baseline).code == 0  # a slower machine
    for cell in results["cells"]:
        _times(cell["latency"], 1.5)
    model = _write(tmp_path / "model.json", results)
    result = cli("compare", model, "--baseline", baseline)
    assert result.code == 1 and "1.50x" in result.stdout
    # Without a probe in the baseline the check says why it could not gate: skipped, not passed.
    old = json.loads(baseline.read_text())
    for cell in old["cells"]:
        cell["probe"] = None
    result = cli("compare", model, "--baseline", _write(tmp_path / "old.json", old))
    assert result.code == 0 and "not gated: no machine-speed probe in the baseline" in result.stdout


def test_every_cell_records_its_probe(results):
    for cell in results["cells"]:
        probe = cell["probe"]
        assert probe["version"] == 1 and 0 < probe["min_ms"] <= probe["p50_ms"]
        assert probe["n"] >= 30
