"""``deploykit bench``: latency and accuracy of artifacts and models on every backend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from deploykit.cli.common import (
    InputShape,
    NumClasses,
    Threads,
    TrustPickle,
    Weights,
    console,
    out,
    source_options,
    split_list,
)
from deploykit.errors import InputError


def parse_batches(text: str) -> tuple[int, ...]:
    """``"1,8,32"`` -> ``(1, 8, 32)``."""
    try:
        sizes = tuple(int(part) for part in split_list(text))
    except ValueError:
        raise InputError(
            f"cannot read batch sizes {text!r}", "write them as e.g. --batch 1,8,32"
        ) from None
    if not sizes or min(sizes) < 1:
        raise InputError(f"batch sizes {text!r} must be positive", "e.g. --batch 1,8,32")
    return sizes


def bench(
    items: Annotated[
        list[str],
        typer.Argument(
            help="Artifacts (.onnx, .tflite, .engine, .pt2) or model names; the first is the reference."
        ),
    ],
    data: Annotated[
        str, typer.Option("--data", help="Labelled set: digits, an ImageFolder, or .npz.")
    ] = "digits",
    backend: Annotated[
        Optional[str],
        typer.Option("--backend", help="Comma-separated backends (default: each format's own)."),
    ] = None,
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes, e.g. 1,8,32.")] = "1",
    threads: Threads = None,
    warmup: Annotated[int, typer.Option("--warmup", help="Warm-up iterations (at least).")] = 10,
    iters: Annotated[int, typer.Option("--iters", help="Timed iterations (at least).")] = 50,
    min_time: Annotated[float, typer.Option("--min-time", help="Timed seconds (at least).")] = 2.0,
    max_time: Annotated[
        float, typer.Option("--max-time", help="Stop timing a cell after this many seconds.")
    ] = 60.0,
    limit: Annotated[
        Optional[int], typer.Option("--limit", help="Evaluate accuracy on at most N images.")
    ] = None,
    delegate: Annotated[
        Optional[str], typer.Option("--delegate", help="LiteRT delegate, e.g. gpu.")
    ] = None,
    delegate_path: Annotated[
        Optional[Path], typer.Option("--delegate-path", help="Delegate library file.")
    ] = None,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="Write results JSON here.")
    ] = None,
    num_classes: NumClasses = None,
    weights: Weights = None,
    input_shape: InputShape = None,
    trust_pickle: TrustPickle = False,
) -> None:
    """Measure latency and accuracy of ITEMS on each backend, side by side."""
    from deploykit.bench import BenchConfig, TimingConfig, run_bench
    from deploykit.bench.report import results_table, summary_lines

    extra = {}
    if delegate:
        extra["delegate"] = delegate
    if delegate_path:
        extra["delegate_path"] = str(delegate_path)
    config = BenchConfig(
        data=data,
        backends=tuple(split_list(backend)),
        batch_sizes=parse_batches(batch),
        threads=threads,
        timing=TimingConfig(warmup_iters=warmup, min_iters=iters, min_s=min_time, max_s=max_time),
        limit=limit,
        runner_extra=extra,
        source=source_options(num_classes, weights, input_shape, trust_pickle),
    )
    with console.status("benchmarking") as status:
        run = run_bench(items, config, progress=lambda text: status.update(f"benchmarking {text}"))
    out.print(results_table(run))
    for line in summary_lines(run):
        out.print(line)
    if json_path:
        run.write_json(json_path)
        out.print(f"wrote {json_path}")
