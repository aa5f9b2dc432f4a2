"""``deploykit models``: list registered model names."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from deploykit.cli.common import out


def models(
    pattern: Annotated[
        Optional[str], typer.Argument(help="Shell-style filter, e.g. 'mobilenet*'.")
    ] = None,
    stats: Annotated[
        bool, typer.Option("--stats", help="Count params and MACs (builds each model).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List loadable model names: torchvision classifiers and deploykit's zoo."""
    from deploykit.zoo import list_models
    from deploykit.zoo.stats import model_stats

    entries = list_models(pattern or "*")
    rows = []
    for e in entries:
        row = {
            "name": e.name,
            "family": e.family,
            "origin": e.origin,
            "input": e.input_size,
            "classes": e.num_classes,
            "description": e.description,
        }
        if stats:
            row.update(model_stats(e.name))
        rows.append(row)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"{len(rows)} models" + (f" matching {pattern!r}" if pattern else ""))
    table.add_column("name", no_wrap=True)
    for column in ("family", "origin", "input", "classes"):
        table.add_column(column)
    if stats:
        table.add_column("params (M)", justify="right")
        table.add_column("GMACs", justify="right")
    for row in rows:
        cells = [str(row[c]) for c in ("name", "family", "origin", "input", "classes")]
        if stats:
            cells += [f"{row['params'] / 1e6:.2f}", f"{row['macs'] / 1e9:.3f}"]
        table.add_row(*cells)
    out.print(table)
