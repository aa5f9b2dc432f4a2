"""``deploykit prune``: structured pruning to a channel, MACs or latency target."""

from __future__ import annotations

import json
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


def prune(
    model: Annotated[str, typer.Argument(help="Registry name or module:factory.")],
    output: Annotated[
        Path, typer.Option("-o", "--out", help="A .pt2 path, or a folder for <model>-p<NN>.pt2.")
    ] = Path("out"),
    ratio: Annotated[
        Optional[float], typer.Option("--ratio", help="Fraction of channels to remove, in (0, 1).")
    ] = None,
    target_macs: Annotated[
        Optional[float], typer.Option("--target-macs", help="Fraction of MACs to keep, in (0, 1).")
    ] = None,
    target_latency_ms: Annotated[
        Optional[float],
        typer.Option("--target-latency-ms", help="Batch-1 latency to reach on --backend."),
    ] = None,
    importance: Annotated[
        str, typer.Option("--importance", help="l1, l2, bn-scale, taylor or random.")
    ] = "l1",
    global_pruning: Annotated[
        bool,
        typer.Option(
            "--global/--uniform", help="Rank channels across layers, or prune each alike."
        ),
    ] = False,
    round_to: Annotated[
        int, typer.Option("--round-to", help="Keep channel counts multiples of this.")
    ] = 8,
    min_channels: Annotated[
        int, typer.Option("--min-channels", help="No layer keeps fewer output channels.")
    ] = 1,
    max_ratio: Annotated[
        float, typer.Option("--max-ratio", help="No layer loses more than this fraction.")
    ] = 0.9,
    ignore: Annotated[
        Optional[str], typer.Option("--ignore", help="Layer names never pruned, comma-separated.")
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Pruning steps (fine-tuning between).")] = 1,
    finetune: Annotated[
        Optional[str], typer.Option("--finetune", help="Fine-tune on digits, a folder or a .npz.")
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Fine-tuning epochs.")] = 20,
    lr: Annotated[float, typer.Option("--lr", help="Peak fine-tuning learning rate.")] = 3e-3,
    distill: Annotated[
        float,
        typer.Option(
            "--distill",
            help="Weight (0-1) of distillation from the unpruned model while fine-tuning.",
        ),
    ] = 0.0,
    eval_data: Annotated[
        Optional[str], typer.Option("--eval", help="Labelled set for top-1 (default: --finetune).")
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="Latency backend: onnxruntime, openvino or torch.")
    ] = "onnxruntime",
    no_latency: Annotated[
        bool, typer.Option("--no-latency", help="Skip latency in the report (ratio/MACs targets).")
    ] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    threads: Threads = None,
    num_classes: NumClasses = None,
    weights: Weights = None,
    input_shape: InputShape = None,
    trust_pickle: TrustPickle = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Prune MODEL's channels on its dependency graph, fine-tune, and save a .pt2 plus manifest."""
    from deploykit.manifest import manifest_path, read_manifest
    from deploykit.prune import PruneConfig, save
    from deploykit.prune import prune as run_prune
    from deploykit.prune.api import output_path

    config = PruneConfig(
        ratio=ratio,
        target_macs=target_macs,
        target_latency_ms=target_latency_ms,
        importance=importance,
        global_pruning=global_pruning,
        min_channels=min_channels,
        round_to=round_to,
        max_ratio=max_ratio,
        ignore=tuple(split_list(ignore)),
        steps=steps,
        finetune=finetune,
        epochs=epochs,
        lr=lr,
        distill=distill,
        eval_data=eval_data,
        backend=backend,
        threads=threads,
        measure_latency=not no_latency,
        seed=seed,
    ).validate()
    output_path(output, "model", 0)  # a bad -o fails before any work
    sources = source_options(num_classes, weights, input_shape, trust_pickle)
    with console.status(f"pruning {model}") as status:
        result = run_prune(model, config, sources, log=status.update, show_progress=False)
    path = save(result, output)
    if as_json:
        manifest = read_manifest(path)
        out.print_json(json.dumps(manifest.to_dict() if manifest else {}))
        return
    state = result.target
    verdict = "[green]met[/]" if state["met"] else "[bold red]NOT met[/]"
    out.print(result.report.table(f"{result.name}: {config.importance}, {state['kind']} target"))
    out.print(
        f"target {state['kind']} {state['goal']}: {verdict} (reached {state['value']:.4g}); "
        f"{result.report.channel_ratio:.1%} of channels removed"
    )
    out.print(f"[bold green]wrote[/] {path} + {manifest_path(path).name}")
