"""Regression gate: a results file against a baseline, as CI sees it.

Latency is compared as a ratio normalised by the reference cell of the same
run at the same batch size, so a uniformly slower CI machine is not a
regression: ``(cell / reference) now`` over ``(cell / reference) in the baseline``
must stay within ``1 + latency`` tolerance. Accuracy fails when top-1 falls
below an absolute floor, or when the paired McNemar test on the same images
says the loss against the baseline is not chance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from deploykit.bench.results import BenchRun, Cell
from deploykit.bench.stats import paired, unpack_bits
from deploykit.options import check_options, option

# Latency statistics a gate may compare. p50 is what users read; min_ms is the most robust
# on a shared machine (contention only ever adds time), and still moves with a real regression.
LATENCY_METRICS = ("p50_ms", "min_ms", "mean_ms", "p90_ms")


@dataclass(frozen=True)
class Tolerances:
    """How much change is allowed.

    Attributes:
        latency: allowed normalised slow-down as a fraction (0.25: 25 % slower fails beyond).
        top1_floor: absolute top-1 every cell must reach (a fraction; None: no floor).
        alpha: significance level of the paired accuracy test against the baseline.
        latency_metric: the latency statistic compared (one of ``LATENCY_METRICS``).
    """

    latency: float = option(
        0.25, "Allowed slow-down relative to the run's reference, e.g. 0.25 = 25 %.",
        flag="--latency-tolerance", min=0,
    )  # fmt: skip
    top1_floor: float | None = option(
        None, "Absolute top-1 every cell must reach, e.g. 0.9.", min=0, max=1
    )
    alpha: float = option(
        0.05, "Significance level of the paired top-1 test.", min=0, max=1, exclusive=True
    )
    latency_metric: str = option("p50_ms", "Latency statistic compared.", choices=LATENCY_METRICS)

    def __post_init__(self) -> None:
        check_options(self)

    @classmethod
    def resolve(cls, baseline: BenchRun, **overrides: float | None) -> Tolerances:
        """Defaults, then the baseline's stored tolerances (from its suite), then ``overrides``."""
        stored = dict((baseline.config or {}).get("tolerances") or {})
        values = {k: v for k, v in stored.items() if k in cls.__dataclass_fields__}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


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


def _latency(
    base: Cell, cur: Cell, baseline: BenchRun, current: BenchRun, tol: Tolerances
) -> Check:
    metric = tol.latency_metric
    b_ref, c_ref = device_reference(baseline, base), device_reference(current, cur)
    b_ms, c_ms = base.latency[metric], cur.latency[metric]
    name = metric.removesuffix("_ms")
    if cur.reference or b_ref is None or c_ref is None:
        ratio = c_ms / b_ms
        why = "the reference itself" if cur.reference else "no reference cell to normalise by"
        return Check(
            cur.key,
            "latency",
            "pass",
            f"{name} {b_ms:.3f} -> {c_ms:.3f} ms ({ratio:.2f}x raw; {why}, not gated)",
            b_ms,
            c_ms,
        )
    base_rel = b_ms / b_ref.latency[metric]
    cur_rel = c_ms / c_ref.latency[metric]
    ratio = cur_rel / base_rel
    outcome = "fail" if ratio > 1 + tol.latency else "pass"
    return Check(
        cur.key,
        "latency",
        outcome,
        f"{name} relative to reference {base_rel:.3f} -> {cur_rel:.3f}: {ratio:.2f}x "
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


def best_of(runs: list[BenchRun]) -> BenchRun:
    """Merge repeated runs of the same suite: each cell keeps its fastest latency figures.

    Load from other processes only ever adds time, so the per-cell minimum over
    repeats converges on the unloaded figure, for the reference cell as for the
    others, while a real regression stays. Everything else comes from the first run.
    """
    import copy

    merged = copy.deepcopy(runs[0])
    others = [{c.key: c for c in run.cells if c.status == "ok"} for run in runs[1:]]
    for cell in merged.cells:
        repeats = [o[cell.key] for o in others if cell.key in o]
        if cell.status != "ok" and repeats:
            cell.status, cell.error = "ok", None
            cell.latency, cell.accuracy = copy.deepcopy(repeats[0].latency), repeats[0].accuracy
            cell.reference = repeats[0].reference
            repeats = repeats[1:]
        for other in repeats:
            for name, value in other.latency.items():
                if name.endswith("_ms") and isinstance(value, (int, float)):
                    cell.latency[name] = min(cell.latency[name], value)
            cell.latency["throughput"] = max(
                cell.latency["throughput"], other.latency["throughput"]
            )
    return merged


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
        "the run's reference cell; "
        f"paired top-1 test at α={tol.alpha:g}"
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
