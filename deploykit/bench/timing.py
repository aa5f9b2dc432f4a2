"""Latency measurement: warm-up by count and time, then at least N iterations and T seconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from deploykit.options import check_options, option

if TYPE_CHECKING:
    from deploykit.runners.base import Runner

Key = TypeVar("Key", bound=Hashable)

HIGH_CV = 0.10  # coefficient of variation above which a measurement is flagged as noisy


@dataclass(frozen=True)
class TimingConfig:
    """How long to measure.

    Attributes:
        warmup_iters: at least this many untimed runs first...
        warmup_s: ...and at least this many seconds of them.
        min_iters: at least this many timed runs...
        min_s: ...and at least this many seconds of them.
        max_s: stop timing after this long even if ``min_iters`` is not reached.
    """

    warmup_iters: int = option(10, "Warm-up iterations (at least).", flag="--warmup", min=0)
    warmup_s: float = option(
        0.5, "Warm-up seconds (at least).", flag="--warmup-time", min=0, unit="s"
    )
    min_iters: int = option(50, "Timed iterations (at least).", flag="--iters", min=1)
    min_s: float = option(2.0, "Timed seconds (at least).", flag="--min-time", min=0, unit="s")
    max_s: float = option(
        60.0, "Stop timing a cell after this long.", flag="--max-time", min=0, exclusive=True,
        unit="s",
    )  # fmt: skip

    def __post_init__(self) -> None:
        check_options(self)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency in milliseconds and throughput in items per second."""

    n: int
    batch: int
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    throughput: float
    compute: dict[str, float] | None = None

    @property
    def cv(self) -> float:
        """Coefficient of variation (std / mean)."""
        return self.std_ms / self.mean_ms if self.mean_ms else 0.0

    @property
    def noisy(self) -> bool:
        return self.cv > HIGH_CV

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "cv": self.cv, "noisy": self.noisy}

    @classmethod
    def from_samples(cls, seconds: np.ndarray, batch: int) -> LatencyStats:
        ms = np.asarray(seconds, dtype=np.float64) * 1e3
        p50, p90, p95, p99 = np.percentile(ms, [50, 90, 95, 99])
        return cls(
            n=len(ms),
            batch=batch,
            mean_ms=float(ms.mean()),
            std_ms=float(ms.std(ddof=1)) if len(ms) > 1 else 0.0,
            min_ms=float(ms.min()),
            max_ms=float(ms.max()),
            p50_ms=float(p50),
            p90_ms=float(p90),
            p95_ms=float(p95),
            p99_ms=float(p99),
            throughput=float(batch * 1e3 / ms.mean()),
        )


def measure(
    fn: Callable[[], object], batch: int, config: TimingConfig | None = None
) -> LatencyStats:
    """Time ``fn()`` (one inference on a batch of ``batch`` items) per ``config``."""
    config = config or TimingConfig()
    clock = time.perf_counter
    start, count = clock(), 0
    while count < config.warmup_iters or clock() - start < config.warmup_s:
        fn()
        count += 1
        if clock() - start > config.max_s:
            break
    samples: list[float] = []
    begin = clock()
    while len(samples) < config.min_iters or clock() - begin < config.min_s:
        t0 = clock()
        fn()
        samples.append(clock() - t0)
        if clock() - begin > config.max_s:
            break
    return LatencyStats.from_samples(np.array(samples), batch)


def measure_runner(
    runner: Runner, batch: np.ndarray, config: TimingConfig | None = None
) -> LatencyStats:
    """Time an open runner on an NCHW batch; layout conversion is done once, outside the timing.

    A runner that measures device compute without transfers (``Runner.last_compute_s``,
    set after each call, e.g. from CUDA events) gets those times summarised under
    ``compute``, next to the end-to-end latency; runners that cannot leave it None.

    Args:
        runner: an open runner.
        batch: NCHW float32 input; its length is the batch size.
        config: how long to measure (default: :class:`TimingConfig`).
    """
    prepared = runner.prepare_input(batch)
    compute: list[float] = []

    def call() -> None:
        runner.run_prepared(prepared)
        if runner.last_compute_s is not None:
            compute.append(runner.last_compute_s)

    stats = measure(call, len(batch), config)
    if compute:
        # Warm-up calls are recorded too; keep the timed tail only.
        device = LatencyStats.from_samples(np.array(compute[-stats.n :]), len(batch))
        stats = replace(
            stats, compute={k: v for k, v in device.to_dict().items() if k != "compute"}
        )
    return stats


def p50_call(
    runner: Runner, batch: np.ndarray, config: TimingConfig | None = None
) -> Callable[[], float]:
    """A cell for :func:`interleaved_rounds`: each call times ``runner`` on ``batch``, returns p50 ms.

    Args:
        runner: an open runner.
        batch: NCHW float32 input.
        config: how long each measurement lasts (default: :class:`TimingConfig`).
    """
    return lambda: measure_runner(runner, batch, config).p50_ms


def interleaved_rounds(
    cells: Mapping[Key, Callable[[], float]],
    rounds: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[Key, list[float]]:
    """Measure every cell once per round, round after round, so machine noise hits all alike.

    Odd rounds run the cells in reverse order (A B C, C B A, ...), so a slow drift
    of the machine's speed does not favour the cells that come first. Compare
    cells by the median of their values (``statistics.median``) or by per-round
    ratios.

    Args:
        cells: label -> a call that measures that cell once and returns a figure
            (e.g. ``lambda: measure_runner(runner, x, config).p50_ms``).
        rounds: how many rounds (at least 1).
        progress: called as ``progress(done, total)`` after each measurement; the
            CLI or a script draws the bar, the library draws nothing.

    Returns:
        label -> the figure from each round, in round order.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    keys = list(cells)
    values: dict[Key, list[float]] = {key: [] for key in keys}
    total, done = rounds * len(keys), 0
    for index in range(rounds):
        for key in keys if index % 2 == 0 else reversed(keys):
            values[key].append(float(cells[key]()))
            done += 1
            if progress is not None:
                progress(done, total)
    return values
