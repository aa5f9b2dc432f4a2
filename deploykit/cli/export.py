"""``deploykit export``: build a verified artifact plus manifest."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated

import typer

from deploykit.cli.common import console, note_assumptions, out
from deploykit.export.api import ExportRequest
from deploykit.export.verify import Tolerance
from deploykit.options import Partial, declared
from deploykit.sources import SourceOptions
from deploykit.terminal import print_lines


@declared
def export(
    model: Annotated[
        str, typer.Argument(help="Registry name, module:factory, .pt2, .onnx, .keras.")
    ],
    request: ExportRequest,
    tolerance: Annotated[dict, Partial(Tolerance, "Default: per precision ({default} for fp32).")],
    source: SourceOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Export MODEL to an artifact, verify it against the source, and write its manifest."""
    from deploykit.export import export_model
    from deploykit.export.verify import DEFAULT_TOLERANCES
    from deploykit.fileio import existing_file

    if request.calib is not None:
        existing_file(request.calib, "calibration set")
    if tolerance:
        request = replace(
            request, tolerance=replace(DEFAULT_TOLERANCES[request.precision], **tolerance)
        )
    from deploykit.sources import load_model

    with console.status(f"exporting {model} to {request.target} {request.precision}"):
        loaded = load_model(model, source)
        note_assumptions(loaded)
        result = export_model(loaded, request)
    manifest = result.manifest
    if as_json:
        out.print_json(json.dumps(manifest.to_dict()))
        return
    size = manifest.size_bytes / 2**20
    out.print(
        f"[bold green]wrote[/] {result.artifact} ({size:.2f} MiB, {manifest.precision}) "
        f"+ {result.artifact.with_suffix('.json').name}"
    )
    if "static_batch" in manifest.details:
        out.print(manifest.details["static_batch"])
    check = manifest.verification
    if check:
        out.print(
            f"verified on {check['n']} {check['data']} samples in {check['backend']}: "
            f"top-1 agreement {check['top1_agreement']:.1%}, cosine {check['cosine']:.6f}, "
            f"max |diff| {check['max_abs_diff']:.3g}"
        )
    else:
        out.print("[yellow]not verified[/] (--no-verify)")
    budget = manifest.details.get("accuracy_budget")
    if budget:
        from deploykit.export.accuracy_budget import budget_lines

        print_lines(out, budget_lines(budget))
