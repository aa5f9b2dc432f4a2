"""Regression tolerances: how much change the gate allows, each value checked on the way in.

A tolerance comes from the command line, from a baseline (stored there by its
suite or by ``--update-baseline``) or from the defaults; wherever it comes from,
it goes through the same declaration (:mod:`deploykit.options`), so NaN,
infinities, wrong types and out-of-range values are refused in one line and no
file can widen the gate past what the command line would accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from deploykit.bench.results import BenchRun
from deploykit.options import check_options, from_mapping, option

# Latency statistics a gate may compare. p50 is what users read; min_ms is the most robust
# on a shared machine (contention only ever adds time), and still moves with a real regression.
LATENCY_METRICS = ("p50_ms", "min_ms", "mean_ms", "p90_ms")
# auto: each cell against the run's reference cell, the reference itself (and every cell of a
# one-item run) against the machine-speed probe; probe: every cell against the probe.
NORMALISERS = ("auto", "probe")


@dataclass(frozen=True)
class Tolerances:
    """How much change is allowed.

    Attributes:
        latency: allowed normalised slow-down as a fraction (0.25: 25 % slower fails beyond).
        top1_floor: absolute top-1 every cell must reach (a fraction; None: no floor).
        alpha: significance level of the paired accuracy test against the baseline.
        latency_metric: the latency statistic compared (one of ``LATENCY_METRICS``).
        normaliser: what latency is divided by (one of ``NORMALISERS``).
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
    normaliser: str = option(
        "auto",
        "What latency is divided by: auto (the run's reference cell; the reference itself and "
        "one-item runs: the machine-speed probe) or probe (every cell).",
        choices=NORMALISERS,
    )

    def __post_init__(self) -> None:
        check_options(self)

    @classmethod
    def resolve(
        cls, baseline: BenchRun, where: str = "baseline", **overrides: float | str | None
    ) -> Tolerances:
        """Defaults, then the baseline's stored tolerances (from its suite), then ``overrides``.

        Stored values are checked like command-line ones (keys, types, ranges, finiteness):
        a baseline cannot carry a tolerance (NaN, latency -0.9, alpha 7) the command line
        would refuse.

        Args:
            baseline: the baseline run (its ``config.tolerances``).
            where: how messages name the baseline (its path).
            overrides: command-line values by field name (None: not given).

        Raises:
            InputError: one line naming the baseline, the key and what is wrong.
        """
        stored = (baseline.config or {}).get("tolerances") or {}
        if isinstance(stored, Mapping):  # null means "not set", as on the command line
            stored = {k: v for k, v in stored.items() if v is not None}
        checked = from_mapping(cls, stored, f"{where}: tolerances")
        values = {k: getattr(checked, k) for k in stored}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
