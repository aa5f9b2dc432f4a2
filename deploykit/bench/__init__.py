"""Benchmarks: latency, memory and accuracy of every artifact on every backend, side by side.

``run_bench`` resolves each item (an artifact file or a model reference) and
measures each (item, backend) in an isolated worker process (``isolation``,
``worker``, ``cells``), one cell per batch size; the :class:`BenchRun` it returns
serialises to schema ``deploykit.bench/2`` (``results``), the source of truth for
the reports (``report``, ``formats``, ``html``) and the CI gate (``compare``).
Suites (``suite``) export models on the fly and bench them; ``stats`` holds the
accuracy intervals and paired tests, ``environment`` what the numbers ran on.
"""

from deploykit.bench.api import BenchConfig, BenchItem, run_bench
from deploykit.bench.results import BenchRun, Cell, read_results
from deploykit.bench.timing import LatencyStats, TimingConfig

__all__ = [
    "BenchConfig",
    "BenchItem",
    "BenchRun",
    "Cell",
    "LatencyStats",
    "TimingConfig",
    "read_results",
    "run_bench",
]
