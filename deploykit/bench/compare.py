"""Regression gate: a results file against a baseline, as CI sees it.

Latency is compared as a ratio normalised by a yardstick measured in the same
run, so a uniformly slower CI machine is not a regression: ``(cell / yardstick)
now`` over ``(cell / yardstick) in the baseline`` must stay within ``1 +
latency`` tolerance. The yardstick of a cell is the run's reference cell at the
same batch size; the reference itself, and every cell of a one-item run, is
measured against the machine-speed probe timed in its own process
(:mod:`deploykit.bench.probe`), so no cell goes ungated. Accuracy fails when
top-1 falls below an absolute floor, or when the paired McNemar test on the
same images says the loss against the baseline is not chance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from deploykit.bench.results import BenchRun, Cell
from deploykit.bench.stats import paired, unpack_bits
from deploykit.bench.tolerances import Tolerances
from deploykit.errors import InputError


@dataclass
class Check:
    """One verdict on one cell and metric.

    Attributes:
        key: the cell (label|backend|precision|batch).
        metric: ``status``, ``latency``, ``top1`` or ``top1_floor``.
        outcome: ``pass``, ``fail`` or ``skip``.
        message: one line saying what was compared.
        baseline, current: the values compared, when numeric.
    """

    key: str
    metric: str
    outcome: str
    message: str
    baseline: float | None = None
    current: float | None = None


@dataclass
class Comparison:
    """All checks of a compare run."""

    checks: list[Check] = field(default_factory=list)
    tolerances: Tolerances = field(default_factory=Tolerances)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.outcome == "fail"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tolerances": asdict(self.tolerances),
            "checks": [asdict(c) for c in self.checks],
        }


def _reference(run: BenchRun, batch: int) -> Cell | None:
    return next(
        (c for c in run.cells if c.reference and c.batch == batch and c.status == "ok"), None
    )


def device_reference(run: BenchRun, cell: Cell) -> Cell | None:
    """The reference cell ``cell``'s latency is normalised by: same batch, same fleet device.

    A fleet run has one reference per device (each device is its own machine, its own
    noise); a local run's cells have no device name and share the run's reference.
    """
    if cell.device_name is None:
        return _reference(run, cell.batch)
    return next(
        (
            c
            for c in run.cells
            if c.reference
            and c.batch == cell.batch
            and c.status == "ok"
            and c.device_name == cell.device_name
        ),
        None,
    )


def by_probe(cell: Cell, run: BenchRun, normaliser: str) -> bool:
    """Whether ``cell`` is normalised by the machine-speed probe rather than the reference.

    The reference cell always is (nothing else measured in the run can judge it), and
    so is every cell of a run with one item (``auto``) or every cell (``probe``).
    """
    return normaliser == "probe" or cell.reference or len({c.item for c in run.cells}) == 1


def _yardstick(cell: Cell, run: BenchRun, probe: bool, metric: str) -> float | None:
    """The figure ``cell``'s latency is divided by (None when the run lacks it)."""
    if probe:
        return cell.probe[metric] if cell.probe else None
    ref = device_reference(run, cell)
    return ref.latency[metric] if ref is not None else None


def _latency(
    base: Cell, cur: Cell, baseline: BenchRun, current: BenchRun, tol: Tolerances
) -> Check:
    metric = tol.latency_metric
    probe = by_probe(cur, current, tol.normaliser)
    b_by, c_by = _yardstick(base, baseline, probe, metric), _yardstick(cur, current, probe, metric)
    b_ms, c_ms = base.latency[metric], cur.latency[metric]
    name = metric.removesuffix("_ms")
    what = "machine-speed probe" if probe else "reference cell"
    why = None
    if b_by is None or c_by is None:
        why = f"no {what} in the {'baseline' if b_by is None else 'results'}"
    elif probe and base.probe.get("version") != cur.probe.get("version"):
        why = "the probe workload changed"
    if why:
        return Check(
            cur.key,
            "latency",
            "skip",
            f"{name} {b_ms:.3f} -> {c_ms:.3f} ms ({c_ms / b_ms:.2f}x raw); not gated: {why} "
            "(re-record the baseline with this deploykit)",
            b_ms,
            c_ms,
        )
    base_rel, cur_rel = b_ms / b_by, c_ms / c_by
    ratio = cur_rel / base_rel
    outcome = "fail" if ratio > 1 + tol.latency else "pass"
    return Check(
        cur.key,
        "latency",
        outcome,
        f"{name} relative to the {what} {base_rel:.3f} -> {cur_rel:.3f}: {ratio:.2f}x "
        f"(limit {1 + tol.latency:.2f}x; raw {b_ms:.3f} -> {c_ms:.3f} ms)",
        base_rel,
        cur_rel,
    )


def _accuracy(base: Cell, cur: Cell, alpha: float) -> Check | None:
    b_acc, c_acc = base.accuracy or {}, cur.accuracy or {}
    if b_acc.get("top1") is None or c_acc.get("top1") is None:
        return None
    b1, c1 = b_acc["top1"], c_acc["top1"]
    if b_acc.get("correct") and c_acc.get("correct") and b_acc.get("n") == c_acc.get("n"):
        test = paired(
            unpack_bits(b_acc["correct"], b_acc["n"]),
            unpack_bits(c_acc["correct"], c_acc["n"]),
            alpha,
        )
        outcome = "fail" if test.regressed else "pass"
        return Check(
            cur.key,
            "top1",
            outcome,
            f"top-1 {b1 * 100:.1f} -> {c1 * 100:.1f} % on the same {test.n} images: "
            f"{test.worse} newly wrong, {test.better} newly right, McNemar p={test.p_value:.2g} "
            f"({'significant' if test.significant else 'not significant'} at {alpha:g})",
            b1,
            c1,
        )
    low = (b_acc.get("top1_ci") or [b1])[0]
    outcome = "fail" if c1 < low else "pass"
    return Check(
        cur.key,
        "top1",
        outcome,
        f"top-1 {b1 * 100:.1f} -> {c1 * 100:.1f} % (no per-image record: "
        f"fails below the baseline's 95 % lower bound {low * 100:.1f} %)",
        b1,
        c1,
    )


def _keep_fastest(stats: dict[str, Any], other: dict[str, Any]) -> None:
    """Each ``*_ms`` figure of ``stats`` becomes the lower of the two; throughput the higher."""
    for name, value in other.items():
        if name.endswith("_ms") and isinstance(value, (int, float)) and name in stats:
            stats[name] = min(stats[name], value)
    stats["throughput"] = max(stats["throughput"], other["throughput"])


def best_of(runs: list[BenchRun]) -> BenchRun:
    """Merge repeated runs of the same suite: each cell keeps its fastest latency figures.

    Load from other processes only ever adds time, so the per-cell minimum over
    repeats converges on the unloaded figure, for the reference cell as for the
    others and for each cell's machine-speed probe, while a real regression stays.
    Everything else comes from the first run; the merge is complete when every run was.
    """
    import copy

    merged = copy.deepcopy(runs[0])
    merged.complete = all(run.complete for run in runs)
    others = [{c.key: c for c in run.cells if c.status == "ok"} for run in runs[1:]]
    for cell in merged.cells:
        repeats = [o[cell.key] for o in others if cell.key in o]
        if cell.status != "ok" and repeats:
            cell.status, cell.error = "ok", None
            cell.latency, cell.accuracy = copy.deepcopy(repeats[0].latency), repeats[0].accuracy
            cell.probe = copy.deepcopy(repeats[0].probe)
            cell.reference = repeats[0].reference
            repeats = repeats[1:]
        for other in repeats:
            _keep_fastest(cell.latency, other.latency)
            if (
                cell.probe
                and other.probe
                and cell.probe.get("version") == other.probe.get("version")
            ):
                _keep_fastest(cell.probe, other.probe)
    return merged


def check_replaceable(current: BenchRun, baseline: BenchRun | None, allow_partial: bool) -> None:
    """Refuse to make a partial run the baseline (a baseline is replaced only by a complete run).

    Partial means: the run was interrupted (``complete: false``), a cell failed, or a cell
    measured in the baseline is missing or failed in the results; such a baseline would
    stop gating those cells for good.

    Args:
        current: the results that would become the baseline.
        baseline: the baseline they would replace (None: there is none yet).
        allow_partial: replace it anyway.

    Raises:
        InputError: when the run is partial and ``allow_partial`` is not set.
    """
    if allow_partial:
        return
    hint = "re-run the bench to the end, or pass --allow-partial to replace it anyway"
    if not current.complete:
        raise InputError("the results come from an interrupted run (complete: false)", hint)
    ok = {c.key for c in current.cells if c.status == "ok"}
    failed = [c.key for c in current.cells if c.status != "ok"]
    if failed:
        raise InputError(f"{len(failed)} cell(s) failed in the results ({failed[0]}, ...)", hint)
    lost = [c.key for c in (baseline.cells if baseline else []) if c.status == "ok"]
    lost = [key for key in lost if key not in ok]
    if lost:
        raise InputError(
            f"the results lack {len(lost)} of the baseline's measured cells ({lost[0]}, ...)",
            hint,
        )


def compare_runs(current: BenchRun, baseline: BenchRun, tolerances: Tolerances) -> Comparison:
    """Check every baseline cell against the same cell in ``current``."""
    result = Comparison(tolerances=tolerances)
    now = {c.key: c for c in current.cells}
    for base in baseline.cells:
        cur = now.pop(base.key, None)
        if cur is None:
            result.checks.append(Check(base.key, "status", "fail", "cell missing from the results"))
            continue
        if base.status != "ok":
            result.checks.append(
                Check(base.key, "status", "skip", f"failed in the baseline too ({cur.status} now)")
            )
            continue
        if cur.status != "ok":
            result.checks.append(Check(base.key, "status", "fail", f"failed: {cur.error}"))
            continue
        result.checks.append(Check(base.key, "status", "pass", "ok"))
        result.checks.append(_latency(base, cur, baseline, current, tolerances))
        if check := _accuracy(base, cur, tolerances.alpha):
            result.checks.append(check)
        top1 = (cur.accuracy or {}).get("top1")
        if tolerances.top1_floor is not None and top1 is not None:
            floor = tolerances.top1_floor
            result.checks.append(
                Check(
                    cur.key,
                    "top1_floor",
                    "fail" if top1 < floor else "pass",
                    f"top-1 {top1 * 100:.1f} % (floor {floor * 100:.1f} %)",
                    floor,
                    top1,
                )
            )
    for cell in now.values():
        result.checks.append(Check(cell.key, "status", "skip", "new cell, not in the baseline"))
    return result


_ICON = {"pass": "✅", "fail": "❌", "skip": "⚪"}


def to_markdown(result: Comparison, title: str = "deploykit compare") -> str:
    """A Markdown summary: verdict first, failures first (fit for $GITHUB_STEP_SUMMARY)."""
    fails = result.failures
    passed = sum(c.outcome == "pass" for c in result.checks)
    verdict = f"❌ **{len(fails)} regression(s)**" if fails else "✅ **no regressions**"
    tol = result.tolerances
    lines = [
        f"### {title}",
        "",
        f"{verdict}: {passed} checks passed, {len(fails)} failed, "
        f"{sum(c.outcome == 'skip' for c in result.checks)} skipped.",
        "",
        f"Tolerances: latency ({tol.latency_metric}) +{tol.latency * 100:.0f} % relative to "
        + (
            "the machine-speed probe; "
            if tol.normaliser == "probe"
            else "the run's reference cell (the reference against the machine-speed probe); "
        )
        + f"paired top-1 test at α={tol.alpha:g}"
        + (f"; top-1 floor {tol.top1_floor * 100:.1f} %" if tol.top1_floor is not None else "")
        + ".",
        "",
        "| | cell | metric | detail |",
        "|---|---|---|---|",
    ]
    order = {"fail": 0, "pass": 1, "skip": 2}
    for check in sorted(result.checks, key=lambda c: order[c.outcome]):
        # GFM splits table cells on "|" even inside code spans: escape it in both.
        key, detail = (t.replace("|", "\\|") for t in (check.key, check.message))
        lines.append(f"| {_ICON[check.outcome]} | `{key}` | {check.metric} | {detail} |")
    return "\n".join(lines) + "\n"


def to_junit(result: Comparison, name: str = "deploykit compare") -> str:
    """JUnit XML: one testcase per cell and metric; failures carry the message."""
    suite = ET.Element(
        "testsuite",
        name=name,
        tests=str(len(result.checks)),
        failures=str(len(result.failures)),
        skipped=str(sum(c.outcome == "skip" for c in result.checks)),
        errors="0",
    )
    for check in result.checks:
        case = ET.SubElement(
            suite, "testcase", classname=f"deploykit.bench.{check.key}", name=check.metric
        )
        if check.outcome == "fail":
            ET.SubElement(
                case, "failure", message=check.message, type="regression"
            ).text = check.message
        elif check.outcome == "skip":
            ET.SubElement(case, "skipped", message=check.message)
        else:
            ET.SubElement(case, "system-out").text = check.message
    root = ET.Element("testsuites", name=name)
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
