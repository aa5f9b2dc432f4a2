"""A machine-speed probe: a fixed small workload timed next to every cell, in the same process.

The gate normalises each cell's latency by the run's reference cell, which
leaves the reference itself (and a one-item run) with nothing to compare
against. The probe is that missing yardstick: a fixed 3x3 convolution
(im2col copy plus GEMM, 16 to 16 channels on 32x32, float32, one BLAS thread)
that is not one of the measured artifacts, timed in each backend's worker right
before each of its cells. A machine that is uniformly slower slows the probe as
much as the model; a model that got slower does not move the probe.
"""

from __future__ import annotations

import numpy as np

from deploykit.bench.timing import LatencyStats, TimingConfig, measure

# Fixed forever: changing the workload changes every probe figure, so a baseline
# recorded with another workload would gate against different numbers.
PROBE_VERSION = 1
PROBE_TIMING = TimingConfig(warmup_iters=5, warmup_s=0.02, min_iters=30, min_s=0.1, max_s=2.0)
_REPEATS = 8  # convolutions per timed call: a few milliseconds, well above timer noise


def _workload() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(PROBE_VERSION)
    x = rng.standard_normal((16, 34, 34), dtype=np.float32)  # 32x32 plus a 1-pixel border
    w = rng.standard_normal((16 * 9, 16), dtype=np.float32)
    return x, w


def _conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
    patches = windows.transpose(1, 2, 0, 3, 4).reshape(32 * 32, 16 * 9)  # im2col copy
    return patches @ w


def measure_probe(timing: TimingConfig = PROBE_TIMING) -> dict[str, float]:
    """Time the fixed workload in this process; LatencyStats as a dict plus the probe version.

    Args:
        timing: how long to measure (the fixed default keeps figures comparable).
    """
    from threadpoolctl import threadpool_limits

    x, w = _workload()

    def call() -> None:
        for _ in range(_REPEATS):
            _conv(x, w)

    with threadpool_limits(limits=1):
        stats: LatencyStats = measure(call, 1, timing)
    return {**stats.to_dict(), "version": PROBE_VERSION}
