"""``deploykit agent``: join a Ray cluster as a device node (the ``fleet`` extra)."""

from __future__ import annotations

import typer

from deploykit.cli.common import console
from deploykit.fleet.agent import AgentRequest
from deploykit.options import declared


@declared
def agent(request: AgentRequest) -> None:
    """Serve this machine to a Ray cluster as device --device until interrupted."""
    from deploykit.fleet.agent import run_agent

    def ready(record: dict) -> None:
        console.print(
            f"device {record['name']} joined the cluster as node {record['node_ip']} "
            f"(Ray {record['ray']}); Ctrl-C to leave"
        )

    code = run_agent(request, ready)
    if code:
        raise typer.Exit(code)
