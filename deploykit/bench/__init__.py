"""Benchmarks: latency and accuracy of every artifact on every backend, side by side.

``run_bench`` resolves each item (an artifact file or a model reference), runs
one cell per (item, backend, batch size), and returns a :class:`BenchRun` whose
JSON form (schema ``deploykit.bench/1``) is the source of truth for reports.
"""

from deploykit.bench.api import BenchConfig, run_bench
from deploykit.bench.results import BenchRun, Cell
from deploykit.bench.timing import LatencyStats, TimingConfig

__all__ = ["BenchConfig", "BenchRun", "Cell", "LatencyStats", "TimingConfig", "run_bench"]
