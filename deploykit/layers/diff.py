"""Two layer reports compared, so a CI regression names its layer.

Rows are matched by source node name, per backend. A layer regresses when its
local SQNR (its own conversion's loss) fell by more than ``sqnr_db``, or when
its share of the end-to-end time grew by more than ``latency`` (a fraction),
ignoring layers below ``min_share`` of the time (too short to time reliably on a
shared machine). Shares, not milliseconds, are compared, so a uniformly slower
CI machine is not a regression. ``deploykit compare`` dispatches here when it
is given ``layers.json`` files; the verdicts reuse its Markdown and JUnit forms.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploykit.bench.compare import Check, Comparison, Tolerances
from deploykit.errors import InputError
from deploykit.layers.report import LayerReport

DEFAULT_SQNR_DROP_DB = 3.0
DEFAULT_MIN_SHARE = 0.02


@dataclass(frozen=True)
class LayerTolerances:
    """How much a layer may change.

    Attributes:
        latency: allowed growth of a layer's share of the end-to-end time (0.25: 25 %).
        sqnr_db: allowed fall of a layer's local SQNR, in dB.
        min_share: layers below this share of the time are not judged on time.
    """

    latency: float = 0.25
    sqnr_db: float = DEFAULT_SQNR_DROP_DB
    min_share: float = DEFAULT_MIN_SHARE


def _key(backend: str, node: str) -> str:
    return f"{backend}|{node}"


def diff_reports(
    current: LayerReport, baseline: LayerReport, tolerances: LayerTolerances
) -> Comparison:
    """Every per-layer check of ``current`` against ``baseline``.

    Raises:
        InputError: when the two reports share no node names (different models).
    """
    base_rows = {r.node: r for r in baseline.layers}
    shared = [r for r in current.layers if r.node in base_rows]
    if not shared:
        raise InputError(
            "the layer reports share no node names",
            "compare reports of the same model (same reference graph)",
        )
    result = Comparison(tolerances=Tolerances(latency=tolerances.latency))
    for row in shared:
        base = base_rows[row.node]
        for backend, now in row.accuracy.items():
            before = base.accuracy.get(backend)
            if before and None not in (now.get("local_sqnr_db"), before.get("local_sqnr_db")):
                result.checks.append(_sqnr(backend, row.node, before, now, tolerances))
        for backend, now in row.latency.items():
            before = base.latency.get(backend)
            if before and None not in (now.get("share"), before.get("share")):
                result.checks.append(_time(backend, row.node, before, now, tolerances))
    return result


def _sqnr(backend: str, node: str, before: dict, now: dict, tol: LayerTolerances) -> Check:
    old, new = before["local_sqnr_db"], now["local_sqnr_db"]
    drop = old - new
    outcome = "fail" if drop > tol.sqnr_db else "pass"
    message = f"local SQNR {old:.1f} -> {new:.1f} dB (allowed fall {tol.sqnr_db:g} dB)"
    return Check(_key(backend, node), "layer_sqnr", outcome, message, old, new)


def _time(backend: str, node: str, before: dict, now: dict, tol: LayerTolerances) -> Check:
    old, new = before["share"], now["share"]
    if max(old, new) < tol.min_share:
        message = f"share {old:.1%} -> {new:.1%}, below {tol.min_share:.0%}: not judged"
        return Check(_key(backend, node), "layer_time", "skip", message, old, new)
    growth = new / old - 1 if old > 0 else float("inf")
    outcome = "fail" if growth > tol.latency else "pass"
    message = (
        f"share of end-to-end {old:.1%} -> {new:.1%} ({growth:+.0%}, allowed +{tol.latency:.0%}); "
        f"{before['ms']:.3f} -> {now['ms']:.3f} ms"
    )
    return Check(_key(backend, node), "layer_time", outcome, message, old, new)


def to_markdown(result: Comparison, tolerances: LayerTolerances) -> str:
    """The verdict, then failing layers first."""
    fails = result.failures
    verdict = f"❌ **{len(fails)} layer regression(s)**" if fails else "✅ **no layer regressions**"
    lines = [
        "### deploykit compare (layers)",
        "",
        f"{verdict}: {sum(c.outcome == 'pass' for c in result.checks)} checks passed, "
        f"{len(fails)} failed, {sum(c.outcome == 'skip' for c in result.checks)} skipped.",
        "",
        f"Tolerances: local SQNR may fall {tolerances.sqnr_db:g} dB; a layer's share of the "
        f"end-to-end time may grow {tolerances.latency:.0%} (layers under "
        f"{tolerances.min_share:.0%} not judged).",
        "",
        "| | backend · layer | metric | detail |",
        "|---|---|---|---|",
    ]
    icon = {"fail": "❌", "pass": "✅", "skip": "➖"}
    order = {"fail": 0, "pass": 1, "skip": 2}
    for check in sorted(result.checks, key=lambda c: order[c.outcome]):
        key = check.key.replace("|", " · ")
        lines.append(f"| {icon[check.outcome]} | `{key}` | {check.metric} | {check.message} |")
    return "\n".join(lines) + "\n"
