"""``deploykit demo``: the embedded default, end to end on the CPU."""

from __future__ import annotations

from deploykit.cli.common import console, out
from deploykit.demo import DemoConfig
from deploykit.options import declared


@declared
def demo(config: DemoConfig) -> None:
    """Train two small CNNs on digits, prune and export them (ONNX, INT8, FP16, TFLite), benchmark every backend."""
    from deploykit.bench.report import results_table, summary_lines
    from deploykit.demo import run_demo

    with console.status("demo") as status:
        result = run_demo(config, say=status.update)
    out.print(results_table(result.run))
    for line in summary_lines(result.run) + [f"skipped {s}" for s in result.skipped]:
        out.print(line)
    out.print(f"wrote {config.out_dir / 'results.json'}")
