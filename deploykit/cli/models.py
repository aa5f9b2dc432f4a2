"""``deploykit models``: list registered model names with their size and cost.

Parameter and MAC counts are shown when a pattern narrows the list (or with
``--stats``); they are counted on PyTorch's meta device and cached, so a
repeated listing is instant. ``--no-stats`` lists names only.
"""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from deploykit.cli.common import console, out

COLUMNS = ("name", "family", "origin", "input", "classes")


def _keras_rows(pattern: str) -> list[dict]:
    """Keras applications matching ``pattern``, as ``keras:Name`` rows (imports TensorFlow)."""
    import fnmatch

    from deploykit.tensorflow_compat import keras_application_names

    rows = []
    for name, size in keras_application_names():
        ref = f"keras:{name}"
        if fnmatch.fnmatch(ref.lower(), pattern.lower()) or fnmatch.fnmatch(
            name.lower(), pattern.lower()
        ):
            rows.append(
                {"name": ref, "family": name.lower(), "origin": "keras", "input": size,
                 "classes": 1000, "description": f"keras.applications.{name}"}
            )  # fmt: skip
    return rows


def models(
    pattern: Annotated[
        Optional[str], typer.Argument(help="Shell-style filter, e.g. 'mobilenet*'.")
    ] = None,
    stats: Annotated[
        Optional[bool],
        typer.Option(
            "--stats/--no-stats",
            help="Params and MACs at the default input (default: on when a pattern is given).",
        ),
    ] = None,
    keras: Annotated[
        bool,
        typer.Option("--keras", help="Also list Keras applications (needs TensorFlow; no counts)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List loadable model names: deploykit's zoo, torchvision classifiers, Keras applications."""
    from deploykit.zoo import list_models
    from deploykit.zoo.stats import cached_model_stats

    pattern = pattern or "*"
    show_stats = stats if stats is not None else pattern != "*"
    entries = list_models(pattern)
    counts = {}
    if show_stats and entries:
        with console.status(f"counting params and MACs of {len(entries)} models"):
            counts = cached_model_stats([e.name for e in entries])
    rows = [
        {
            "name": e.name,
            "family": e.family,
            "origin": e.origin,
            "input": e.input_size,
            "classes": e.num_classes,
            "description": e.description,
            **counts.get(e.name, {}),
        }
        for e in entries
    ]
    if keras:
        rows += _keras_rows(pattern)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    title = f"{len(rows)} models" + (f" matching {pattern!r}" if pattern != "*" else "")
    table = Table(title=title)
    table.add_column("name", no_wrap=True)
    for column in COLUMNS[1:]:
        table.add_column(column)
    if show_stats:
        table.add_column("params (M)", justify="right")
        table.add_column("GMACs", justify="right")
    for row in rows:
        cells = [str(row[c]) for c in COLUMNS]
        if show_stats:
            known = "params" in row
            cells += [
                f"{row['params'] / 1e6:.2f}" if known else "-",
                f"{row['macs'] / 1e9:.3f}" if known else "-",
            ]
        table.add_row(*cells)
    out.print(table)
