"""``deploykit devices``: the devices serving a Ray cluster (the ``fleet`` extra)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from deploykit.cli.common import out
from deploykit.errors import InputError
from deploykit.fleet.request import FleetRequest
from deploykit.options import Without, declared


@declared
def devices(
    fleet: Annotated[FleetRequest, Without("devices", "device_retry", "device_timeout_s")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each device's full record as JSON.")
    ] = False,
) -> None:
    """List the cluster's devices: name, status, CPU/GPU, libraries, Ray version."""
    from deploykit.fleet.listing import devices_at, devices_table

    if not fleet.cluster:
        raise InputError("no cluster given", "pass --cluster ray://HEAD:10001")
    found = devices_at(fleet.cluster, fleet.reply_timeout_s)
    if as_json:
        out.print_json(json.dumps([{**asdict(d), "status": d.status} for d in found]))
    elif not found:
        out.print("no devices: start `deploykit agent --address HEAD:6379 --device NAME` on one")
    else:
        out.print(devices_table(found))
