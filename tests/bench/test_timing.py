"""Timing helpers: interleaved rounds (the benchmark scripts' loop) and the measuring loop itself.

The runner contract (compute time beside end-to-end time) is tested on real
runners in tests/runners/test_contract.py.
"""

from __future__ import annotations

import time

import pytest

from deploykit.bench.timing import TimingConfig, interleaved_rounds, measure


def test_rounds_alternate_order_and_report_progress():
    calls: list[str] = []
    progress: list[tuple[int, int]] = []

    def cell(name: str, value: float):
        def run() -> float:
            calls.append(name)
            return value

        return run

    values = interleaved_rounds(
        {"a": cell("a", 1.0), "b": cell("b", 2.0), "c": cell("c", 3.0)},
        rounds=3,
        progress=lambda done, total: progress.append((done, total)),
    )
    # Every cell once per round; odd rounds reversed so drift favours no cell.
    assert calls == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert values == {"a": [1.0] * 3, "b": [2.0] * 3, "c": [3.0] * 3}
    assert progress == [(i, 9) for i in range(1, 10)]
    with pytest.raises(ValueError, match="at least 1"):
        interleaved_rounds({"a": cell("a", 1.0)}, rounds=0)


def test_measure_honours_minimum_iterations_and_time():
    config = TimingConfig(warmup_iters=2, warmup_s=0.0, min_iters=5, min_s=0.05, max_s=5.0)
    stats = measure(lambda: time.sleep(0.002), batch=4, config=config)
    assert stats.n >= 5 and stats.n * stats.mean_ms >= 50 * 0.9
    assert 2.0 <= stats.p50_ms < 50 and stats.throughput == pytest.approx(4e3 / stats.mean_ms)
