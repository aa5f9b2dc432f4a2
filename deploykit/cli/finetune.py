"""``deploykit finetune``: replace the classifier head, train on a labelled set, save ``.pt2``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from deploykit.cli.common import (
    InputShape,
    TrustCode,
    TrustPickle,
    Weights,
    console,
    out,
    source_options,
)


def finetune(
    model: Annotated[str, typer.Argument(help="Registry name, module:factory or .pt (trusted).")],
    data: Annotated[
        str, typer.Option("--data", help="digits, an ImageFolder directory or a .npz.")
    ] = "digits",
    output: Annotated[
        Path, typer.Option("-o", "--out", help="Destination .pt2 (manifest beside it).")
    ] = Path("out/finetuned.pt2"),
    num_classes: Annotated[
        Optional[int],
        typer.Option("--num-classes", help="New head width (default: classes in --data)."),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the training set.")] = 5,
    lr: Annotated[
        float, typer.Option("--lr", help="Peak learning rate (AdamW, one-cycle).")
    ] = 3e-3,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    freeze_backbone: Annotated[
        bool, typer.Option("--freeze-backbone", help="Train the new head only.")
    ] = False,
    no_augment: Annotated[bool, typer.Option("--no-augment", help="Skip random shifts.")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    threads: Annotated[Optional[int], typer.Option("--threads", help="Torch threads.")] = None,
    weights: Weights = None,
    input_shape: InputShape = None,
    trust_pickle: TrustPickle = False,
    trust_code: TrustCode = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Transfer learning: new head for --num-classes, train on --data, save a reloadable .pt2."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from deploykit.finetune import finetune as run
    from deploykit.sources import load_model
    from deploykit.train import TrainConfig

    # --weights belong to the source architecture, so the source keeps its own head width.
    loaded = load_model(model, source_options(None, weights, input_shape, trust_pickle, trust_code))
    config = TrainConfig(
        epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, augment=not no_augment,
        threads=threads,
    )  # fmt: skip
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

        result = run(loaded, data, output, num_classes, config, freeze_backbone, progress)
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
        return
    frozen = ", backbone frozen" if result.frozen_backbone else ""
    out.print(
        f"{result.path}: head {result.head} -> {result.num_classes} classes{frozen}; "
        f"validation top-1 {result.val_top1:.2%} on {result.val_samples} images "
        f"after {result.epochs} epochs ({result.seconds:.0f} s)"
    )
