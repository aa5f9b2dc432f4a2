"""``deploykit prune``: structured pruning to a channel, MACs or latency target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from deploykit.cli.common import console, note_assumptions, out
from deploykit.options import Without, declared
from deploykit.prune.config import PruneConfig
from deploykit.sources import SourceOptions


@declared
def prune(
    model: Annotated[str, typer.Argument(help="Registry name or module:factory.")],
    config: PruneConfig,
    source: Annotated[SourceOptions, Without("trust_code")],
    output: Annotated[
        Path, typer.Option("-o", "--out", help="A .pt2 path, or a folder for <model>-p<NN>.pt2.")
    ] = Path("out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Prune MODEL's channels on its dependency graph, fine-tune, and save a .pt2 plus manifest."""
    from deploykit.manifest import manifest_path, read_manifest
    from deploykit.prune import prune as run_prune
    from deploykit.prune import save
    from deploykit.prune.api import check_destination, output_path, planned_path

    output_path(output, "model", 0)  # a bad -o fails before any work
    from deploykit.progress import live_steps
    from deploykit.sources import load_model

    with live_steps(console, f"pruning {model}") as steps:
        loaded = load_model(model, source)
        note_assumptions(loaded)
        planned = planned_path(output, loaded.name, config)
        if planned is not None:  # refuse an overwrite before minutes of pruning
            check_destination(planned, loaded.source, loaded.spec, config)
        result = run_prune(loaded, config, log=steps.say, progress=steps.progress)
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
