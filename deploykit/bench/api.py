"""Run a benchmark: items x backends x batch sizes, accuracy and fidelity against a reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from deploykit.bench.environment import environment
from deploykit.bench.results import BenchRun, Cell
from deploykit.bench.subjects import Subject, resolve
from deploykit.bench.timing import TimingConfig, measure_runner
from deploykit.data import Dataset, load_dataset, prepare
from deploykit.errors import DeployKitError, InputError
from deploykit.metrics import fidelity, topk_accuracy
from deploykit.runners import RunnerOptions, open_runner
from deploykit.sources import SourceOptions
from deploykit.targets import get_backend

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchConfig:
    """What to measure.

    Attributes:
        data: labelled dataset for accuracy (``digits``, ImageFolder, ``.npz``).
        backends: backends to try on every item that they can run (empty: defaults).
        batch_sizes: latency is measured at each.
        threads: intra-op threads per runner (None: each backend's default).
        timing: warm-up and iteration settings.
        limit: evaluate accuracy on at most this many samples.
        eval_batch: batch size for the accuracy pass.
        runner_extra: backend options (e.g. a LiteRT delegate).
        source: how to load model references.
    """

    data: str = "digits"
    backends: tuple[str, ...] = ()
    batch_sizes: tuple[int, ...] = (1,)
    threads: int | None = None
    timing: TimingConfig = field(default_factory=TimingConfig)
    limit: int | None = None
    eval_batch: int = 32
    runner_extra: dict = field(default_factory=dict)
    source: SourceOptions = field(default_factory=SourceOptions)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["source"] = {k: str(v) if v is not None else None for k, v in data["source"].items()}
        return data


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _logits(runner, x: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([runner.infer(x[i : i + batch]) for i in range(0, len(x), batch)])


def run_cells(
    subject: Subject, backend: str, data: Dataset, config: BenchConfig
) -> tuple[list[Cell], np.ndarray | None]:
    """All batch-size cells of one (subject, backend), plus its logits on ``data``.

    A backend that fails to open or run marks its cells failed; it never raises.
    """
    base = dict(
        item=subject.item,
        label=subject.label,
        fmt=subject.fmt,
        backend=backend,
        precision=subject.precision,
        device=get_backend(backend).device,
        size_bytes=subject.size_bytes,
    )
    options = RunnerOptions(config.threads, subject.precision, dict(config.runner_extra))
    try:
        x = prepare(data.images, subject.spec)
        with open_runner(backend, subject.target, subject.spec, options) as runner:
            logits = _logits(runner, x, config.eval_batch)
            accuracy = {
                "top1": topk_accuracy(logits, data.labels, 1),
                "top5": topk_accuracy(logits, data.labels, 5),
                "n": len(data),
            }
            cells = []
            for batch in config.batch_sizes:
                sample = np.resize(x, (batch, *x.shape[1:]))
                stats = measure_runner(runner, sample, config.timing)
                cells.append(
                    Cell(
                        **base,
                        batch=batch,
                        runner=asdict(runner.info),
                        latency=stats.to_dict(),
                        accuracy=accuracy,
                    )
                )
            return cells, logits
    except DeployKitError as exc:
        error = str(exc)
    except Exception as exc:  # a runtime crash costs this cell, not the run
        error = f"{type(exc).__name__}: {_first_line(exc)}"
    return [Cell(**base, batch=b, status="failed", error=error) for b in config.batch_sizes], None


def _score_against_reference(cells: list[Cell], logits: dict[int, np.ndarray]) -> None:
    """Fill fidelity and speed-up of every cell against the first successful cell."""
    ok = [i for i, c in enumerate(cells) if c.status == "ok"]
    if not ok:
        return
    ref_index = ok[0]
    ref = cells[ref_index]
    ref_logits = logits[ref_index]
    ref_p50 = {
        c.batch: c.latency["p50_ms"]
        for c in cells
        if c.status == "ok" and (c.label, c.backend) == (ref.label, ref.backend)
    }
    for i in ok:
        cell = cells[i]
        cell.reference = (cell.label, cell.backend) == (ref.label, ref.backend)
        if logits[i].shape == ref_logits.shape:
            cell.fidelity = fidelity(ref_logits, logits[i]).to_dict()
        if cell.batch in ref_p50:
            cell.speedup = ref_p50[cell.batch] / cell.latency["p50_ms"]


def run_bench(items: list[str], config: BenchConfig, progress: Progress | None = None) -> BenchRun:
    """Benchmark ``items`` (artifact paths or model references); the first is the reference.

    Args:
        items: what to measure, in order.
        config: what and how to measure.
        progress: called with a short description before each (item, backend).

    Raises:
        DeployKitError: for bad items, data or backend names (a failing runtime is a failed cell).
    """
    if not items:
        raise InputError("nothing to benchmark", "pass artifact files or model names")
    for backend in config.backends:
        get_backend(backend)
    if not config.batch_sizes or min(config.batch_sizes) < 1:
        raise InputError("batch sizes must be positive integers", "e.g. --batch 1,8,32")
    data = load_dataset(config.data, split="test", limit=config.limit)
    subjects = [resolve(item, config.source) for item in items]
    cells: list[Cell] = []
    logits: dict[int, np.ndarray] = {}
    for subject in subjects:
        for backend in subject.backends(list(config.backends)):
            if progress:
                progress(f"{subject.label} on {backend}")
            new_cells, subject_logits = run_cells(subject, backend, data, config)
            for cell in new_cells:
                if subject_logits is not None:
                    logits[len(cells)] = subject_logits
                cells.append(cell)
    _score_against_reference(cells, logits)
    return BenchRun(cells, environment(), {**config.to_dict(), "items": items})
