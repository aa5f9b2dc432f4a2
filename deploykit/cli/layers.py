"""``deploykit layers``: per-layer accuracy and latency of an artifact, keyed by source node."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deploykit.cli.common import console, out
from deploykit.layers.api import LayersRequest
from deploykit.options import declared
from deploykit.sources import SourceOptions


@declared
def layers(
    artifact: Annotated[Path, typer.Argument(help="An exported .onnx, .tflite or .engine file.")],
    request: LayersRequest,
    source: SourceOptions,
) -> None:
    """Which layers of ARTIFACT lose accuracy and which take the time, on each backend.

    Writes layers.json (the source of truth), layers.md, layers.html and Model Explorer
    overlays (explorer/) into the output folder; prints the worst and slowest layers.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from deploykit.layers.api import layer_report
    from deploykit.layers.outputs import write_outputs
    from deploykit.layers.render import terminal

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        report = layer_report(artifact, request, None, source, progress)
    out_dir = request.out_dir
    written = write_outputs(report, out_dir, request.top_k)
    terminal(report, request.top_k, out)
    console.print(
        f"wrote {written['json']}, {written['markdown'].name}, {written['html'].name} and "
        f"Model Explorer overlays in {written['explorer'].parent} "
        f"(see them with `deploykit view {artifact} --overlay {out_dir}`)"
    )
