"""measure_runner: device compute time beside end-to-end time when a runner reports it."""

from __future__ import annotations

import time

import numpy as np

from deploykit.bench.timing import TimingConfig, measure_runner


class SleepyRunner:
    """A runner-shaped object: 2 ms per call, of which it reports 1 ms as device compute."""

    def prepare_input(self, batch: np.ndarray) -> np.ndarray:
        return batch

    def run_prepared(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(0.002)
        self.last_compute_s = 0.001
        return batch


def test_compute_time_is_summarised_next_to_end_to_end():
    stats = measure_runner(
        SleepyRunner(), np.zeros((2, 3, 4, 4), np.float32), TimingConfig(1, 0.0, 10, 0.02, 1.0)
    )
    assert stats.compute["n"] == stats.n and stats.compute["p50_ms"] == 1.0
    assert stats.p50_ms >= 2.0 and stats.to_dict()["compute"]["batch"] == 2
