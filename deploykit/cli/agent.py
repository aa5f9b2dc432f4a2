"""``deploykit agent``: join a Ray cluster as a device node (the ``fleet`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from deploykit.cli.common import console


def agent(
    address: Annotated[str, typer.Option("--address", help="The head's GCS address, HEAD:6379.")],
    device: Annotated[
        str, typer.Option("--device", help="This device's name, e.g. orin-nano-15w.")
    ],
    node_ip: Annotated[
        Optional[str],
        typer.Option("--node-ip-address", help="This machine's address on the cluster network."),
    ] = None,
    object_store_mib: Annotated[
        Optional[int], typer.Option("--object-store-mib", help="Object store size (MiB).")
    ] = None,
    cache: Annotated[
        Optional[Path],
        typer.Option("--cache", help="Where shipped artifacts and built engines are kept."),
    ] = None,
) -> None:
    """Serve this machine to a Ray cluster as device DEVICE until interrupted."""
    from deploykit.fleet.agent import run_agent

    def ready(record: dict) -> None:
        console.print(
            f"device {record['name']} joined the cluster as node {record['node_ip']} "
            f"(Ray {record['ray']}); Ctrl-C to leave"
        )

    code = run_agent(address, device, node_ip, object_store_mib, cache, ready)
    if code:
        raise typer.Exit(code)
