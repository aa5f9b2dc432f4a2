"""``deploykit finetune``: replace the classifier head, train on a labelled set, save ``.pt2``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from deploykit.cli.common import console, out
from deploykit.finetune import FinetuneRequest
from deploykit.options import Without, declared
from deploykit.sources import SourceOptions


@declared
def finetune(
    model: Annotated[str, typer.Argument(help="Registry name, module:factory or .pt (trusted).")],
    request: FinetuneRequest,
    source: Annotated[SourceOptions, Without("num_classes")],
    output: Annotated[
        Path, typer.Option("-o", "--out", help="Destination .pt2 (manifest beside it).")
    ] = Path("out/finetuned.pt2"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Transfer learning: new head for --num-classes, train on --data, save a reloadable .pt2."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from deploykit.finetune import finetune as run
    from deploykit.sources import load_model

    # --weights belong to the source architecture, so the source keeps its own head width.
    loaded = load_model(model, source)
    columns = (
        TextColumn("[bold]finetune[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps, loss {task.fields[loss]:.3f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(loaded.name, total=None, loss=float("nan"))

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=loss)

        result = run(loaded, request, output, progress)
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
        return
    frozen = ", backbone frozen" if result.frozen_backbone else ""
    out.print(
        f"{result.path}: head {result.head} -> {result.num_classes} classes{frozen}; "
        f"validation top-1 {result.val_top1:.2%} on {result.val_samples} images "
        f"after {result.epochs} epochs ({result.seconds:.0f} s)"
    )
