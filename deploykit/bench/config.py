"""What a benchmark run measures and how: :class:`BenchConfig`, :class:`BenchItem`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from deploykit.bench.compare import Tolerances
from deploykit.bench.timing import TimingConfig
from deploykit.options import check_options, option, parse_pairs
from deploykit.sources import SourceOptions
from deploykit.targets import BACKENDS, backend_names, check_runner_options


def runner_options_field() -> Any:
    """The ``--runner-option KEY=VALUE`` field (suite key ``runner_options``) of bench and layers:
    one mapping every runner reads its own keys from, checked with
    :func:`deploykit.targets.check_runner_options` in the request's ``__post_init__``."""
    tables = [b for b in BACKENDS.values() if b.options]
    return option(
        default_factory=dict,
        help="Runner option KEY=VALUE, repeatable ("
        + "; ".join(f"{b.name}: {', '.join(o.key for o in b.options)}" for b in tables)
        + ").",
        flag="--runner-option",
        key="runner_options",
        parse=parse_pairs,
    )


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
        runner_extra: runner options (``--runner-option``), one mapping every runner reads
            its own keys from (declared per backend in the capability table).
        source: how to load model references (items may carry their own).
        isolate: measure each (item, backend) in its own worker process.
        timeout_s: a worker with no progress for this long is killed and its cell failed.
        tolerances: regression tolerances (see ``bench.compare.Tolerances``) stored with the
            results for ``deploykit compare``; their ``alpha`` is also the level of the paired
            accuracy test against the reference.
        strict: fail the run when any cell fails (otherwise only when every cell does).
        allow_modified: measure artifacts whose bytes differ from their manifest's sha256
            (recorded in the results as ``config.modified_artifacts``).
    """

    data: str = option("digits", "Labelled set: digits, an ImageFolder, or a .npz.")
    backends: tuple[str, ...] = option(
        (),
        "Backends, comma-separated (default: every installed backend for ONNX, else the "
        "format's own).",
        flag="--backend",
        choices=backend_names,
    )
    batch_sizes: tuple[int, ...] = option(
        (1,), "Batch sizes, e.g. 1,8,32.", flag="--batch", key="batch", min=1
    )
    threads: int | None = option(None, "Intra-op threads per runner.", min=1)
    timing: TimingConfig = option(default_factory=TimingConfig, help="Timing settings.")
    limit: int | None = option(None, "Evaluate accuracy on at most N images.", min=1)
    eval_batch: int = option(32, "Batch size of the accuracy pass.", min=1)
    runner_extra: dict = runner_options_field()
    source: SourceOptions = option(
        default_factory=SourceOptions, help="How to load model references.", suite=False
    )
    isolate: bool = option(
        True, "Measure each (item, backend) in its own process, so a crash costs one cell.",
        suite=False,
    )  # fmt: skip
    timeout_s: float = option(
        300.0, "Fail a cell whose worker shows no progress for this long.", flag="--timeout",
        min=0, exclusive=True, unit="s",
    )  # fmt: skip
    tolerances: dict[str, Any] = option(
        default_factory=dict,
        help="Regression tolerances stored with the results for `deploykit compare`.",
        cli=False,
        suite=False,
    )
    strict: bool = option(
        False, "Exit non-zero when any cell fails (without it: only when every cell fails)."
    )
    allow_modified: bool = option(
        False,
        "Measure artifacts whose bytes differ from the sha256 in their manifest (recorded in "
        "the results); without it they are refused.",
        suite=False,
    )

    def __post_init__(self) -> None:
        check_options(self)
        check_runner_options(self.runner_extra, self.backends)

    @property
    def alpha(self) -> float:
        """Significance level of the paired accuracy test against the reference."""
        return Tolerances(**self.tolerances).alpha

    def to_dict(self) -> dict:
        data = asdict(self)
        data["source"] = source_to_json(self.source)
        return data


@dataclass(frozen=True)
class BenchItem:
    """An item with its own load options (suites bench several models in one run).

    Attributes:
        ref: artifact path or model reference.
        source: how to load it (None: the run's ``BenchConfig.source``).
        engine: a TensorRT build request (precision, options, calib) when ``ref`` is the ONNX
            graph of an engine that is built where it runs (a fleet device); None otherwise.
    """

    ref: str
    source: SourceOptions | None = None
    engine: dict[str, Any] | None = None


def source_to_json(options: SourceOptions) -> dict[str, Any]:
    """SourceOptions as plain JSON (paths as strings)."""
    data = asdict(options)
    data["weights"] = str(options.weights) if options.weights else None
    data["input_shape"] = list(options.input_shape) if options.input_shape else None
    return data
