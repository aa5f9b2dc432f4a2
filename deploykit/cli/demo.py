"""``deploykit demo``: the embedded default, end to end on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deploykit.cli.common import OutDir, Threads, console, out


def demo(
    out_dir: OutDir = Path("demo-out"),
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs on digits.")] = 8,
    threads: Threads = None,
    min_time: Annotated[float, typer.Option("--min-time", help="Timed seconds per cell.")] = 1.0,
) -> None:
    """Train two small CNNs on digits, prune and export them (ONNX, INT8, FP16, TFLite), benchmark every backend."""
    from deploykit.bench import TimingConfig
    from deploykit.bench.report import results_table, summary_lines
    from deploykit.demo import DemoConfig, run_demo

    config = DemoConfig(
        out_dir=out_dir,
        epochs=epochs,
        threads=threads,
        timing=TimingConfig(warmup_iters=5, warmup_s=0.2, min_iters=30, min_s=min_time),
    )
    with console.status("demo") as status:
        result = run_demo(config, say=status.update)
    out.print(results_table(result.run))
    for line in summary_lines(result.run) + [f"skipped {s}" for s in result.skipped]:
        out.print(line)
    out.print(f"wrote {out_dir / 'results.json'}")
