"""``deploykit view``: the graph in Model Explorer (with overlays) or Netron, on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deploykit.cli.common import console, out
from deploykit.layers.viewer import ViewRequest
from deploykit.options import declared


@declared
def view(
    artifact: Annotated[Path, typer.Argument(help="The .onnx or .tflite file to show.")],
    request: ViewRequest,
) -> None:
    """Serve ARTIFACT's graph on 127.0.0.1, coloured by a layer report's overlays.

    Uses Model Explorer (the viewer extra); without it, Netron without overlays.
    Stop with Ctrl+C.
    """
    from deploykit.layers.viewer import browser_available, page_url, plan_view, serve

    plan = plan_view(artifact, request.overlay, request.port)
    for message in plan.messages:
        console.print(message)
    opened = request.browser and browser_available()
    if request.browser and not opened:
        console.print("no browser found here: open the address below yourself")
    out.print(
        f"serving {plan.graph} in {plan.viewer} ({len(plan.overlays)} overlays) at", soft_wrap=True
    )
    out.print(page_url(plan), soft_wrap=True)
    serve(plan, opened)
