"""``deploykit finetune``: replace the classifier head, train on a labelled set, save ``.pt2``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from deploykit.cli.common import console, note_assumptions, out
from deploykit.finetune import FinetuneRequest
from deploykit.options import Without, declared
from deploykit.sources import SourceOptions


@declared
def finetune(
    model: Annotated[str, typer.Argument(help="Registry name, module:factory or .pt (trusted).")],
    request: FinetuneRequest,
    source: Annotated[SourceOptions, Without("num_classes")],
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--out", help="A .pt2 path, or a folder for <model>-ft-<data>.pt2 (+ manifest)."
        ),
    ] = Path("out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Transfer learning: new head for --num-classes, train on --data, save a reloadable .pt2."""
    from deploykit.finetune import finetune as run
    from deploykit.progress import live_steps
    from deploykit.sources import load_model
    from deploykit.terminal import print_lines

    with live_steps(console, f"finetune {model}: loading the model and --data") as steps:
        # --weights belong to the source architecture, so the source keeps its own head width.
        loaded = load_model(model, source)
        note_assumptions(loaded)
        result = run(loaded, request, output, steps.progress)
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
    else:
        frozen = ", backbone frozen" if result.frozen_backbone else ""
        out.print(
            f"{result.path}: head {result.head} -> {result.num_classes} classes{frozen}; "
            f"validation top-1 {result.val_top1:.2%} on {result.val_samples} images "
            f"after {result.epochs} epochs ({result.seconds:.0f} s; BatchNorm statistics "
            "re-estimated)",
            markup=False,
        )
    print_lines(console, [f"warning: {w}" for w in result.warnings])
