"""``deploykit demo``: the embedded default, end to end on the CPU."""

from __future__ import annotations

from typing import Annotated

import typer

from deploykit.cli.common import WIDE_HELP, console, out
from deploykit.demo import DemoConfig
from deploykit.options import declared


@declared
def demo(
    config: DemoConfig,
    wide: Annotated[bool, typer.Option("--wide", help=WIDE_HELP)] = False,
) -> None:
    """Train two small CNNs on digits, prune and export them (ONNX, INT8, FP16, TFLite), benchmark every backend."""
    from deploykit.bench.report import print_report
    from deploykit.demo import run_demo
    from deploykit.progress import live_steps
    from deploykit.terminal import print_lines

    with live_steps(console, "demo") as steps:
        result = run_demo(config, steps.say, steps.progress, steps.cells)
    print_report(out, result.run, wide)
    print_lines(out, [f"skipped {s}" for s in result.skipped])
    out.print(f"wrote {config.out_dir / 'results.json'}", markup=False)
