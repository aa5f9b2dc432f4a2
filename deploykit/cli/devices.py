"""``deploykit devices``: the devices serving a Ray cluster (the ``fleet`` extra)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from deploykit.cli.common import out


def devices(
    cluster: Annotated[
        str,
        typer.Option("--cluster", help="The cluster: ray://HEAD:10001, or HEAD:6379 on a node."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each device's full record as JSON.")
    ] = False,
) -> None:
    """List the cluster's devices: name, status, CPU/GPU, libraries, Ray version."""
    from deploykit.fleet.listing import devices_at, devices_table

    found = devices_at(cluster)
    if as_json:
        out.print_json(json.dumps([{**asdict(d), "status": d.status} for d in found]))
    elif not found:
        out.print("no devices: start `deploykit agent --address HEAD:6379 --device NAME` on one")
    else:
        out.print(devices_table(found))
