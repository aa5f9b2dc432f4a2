"""``deploykit view``: the graph in a local viewer, with the layer report's overlays.

Google's AI Edge Model Explorer (the ``viewer`` extra: ``ai-edge-model-explorer``
and its ONNX adapter ``model-explorer-onnx``) is served on 127.0.0.1 with one
node-data overlay per metric and backend. Without it, Netron (the ``netron``
extra; small, no overlays) shows the graph, and the user is told so. Both
serve their web apps from the installed packages, so no internet is needed
(Model Explorer's check for a newer release on PyPI is turned off).
"""

from __future__ import annotations

import contextlib
import json
import socket
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path

from deploykit.errors import InputError, MissingBackendError
from deploykit.fileio import existing_file
from deploykit.optional import available
from deploykit.options import check_options, option

HOST = "127.0.0.1"
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class ViewRequest:
    """How ``deploykit view`` serves a graph.

    Attributes:
        overlay: the ``-o`` folder of ``deploykit layers`` whose overlays to show.
        port: the port to serve on (a free one is picked when it is taken).
        browser: open a browser tab (when one is available; else the URL is printed).
    """

    overlay: Path | None = option(None, "Folder written by `deploykit layers` (its overlays).")
    port: int = option(DEFAULT_PORT, "Port on 127.0.0.1 (a free one if taken).", min=1, max=65535)
    browser: bool = option(
        True, "Open a browser tab when one is available.", flag="--browser/--no-browser"
    )

    def __post_init__(self) -> None:
        check_options(self)


@dataclass
class ViewPlan:
    """What will be served: the graph, its overlays, the viewer and the address.

    Attributes:
        graph: the model file shown.
        overlays: node-data files laid over it.
        viewer: ``model-explorer`` or ``netron``.
        port: the port served on (a free one when the asked one is taken).
        messages: lines to tell the user (fallbacks, port changes, where the graph came from).
    """

    graph: Path
    overlays: list[Path] = field(default_factory=list)
    viewer: str = "model-explorer"
    port: int = DEFAULT_PORT
    messages: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"


def port_free(port: int) -> bool:
    """Whether ``port`` can be bound on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port the system says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def has_model_explorer() -> bool:
    return available("model_explorer") and available("model_explorer_onnx")


def plan_view(artifact: Path, overlay: Path | None, port: int) -> ViewPlan:
    """Decide what to serve, with which viewer, on which port.

    Raises:
        InputError: a missing file, or an overlay folder without ``explorer/index.json``.
        MissingBackendError: when neither Model Explorer nor Netron is installed.
    """
    from deploykit.layers.explorer import FOLDER, INDEX

    artifact = existing_file(artifact, "model")
    plan = ViewPlan(graph=artifact, port=port)
    if overlay is not None:
        index = overlay / FOLDER / INDEX
        if not index.is_file():
            raise InputError(
                f"{overlay} holds no Model Explorer overlays ({FOLDER}/{INDEX})",
                "pass the -o folder of `deploykit layers`",
            )
        listing = json.loads(index.read_text(encoding="utf-8"))
        graph = Path(listing["graph"])
        if graph.resolve() != artifact.resolve():
            if artifact.suffix != ".tflite":
                raise InputError(
                    f"the overlays in {overlay} were made for {graph}, not {artifact}",
                    f"run `deploykit layers {artifact} -o DIR` and view with --overlay DIR",
                )
            plan.messages.append(
                f"overlays for {artifact.name} are drawn on its reference graph {graph.name}"
            )
        plan.graph = existing_file(graph, "overlay graph")
        plan.overlays = [overlay / FOLDER / name for name in listing["files"]]
    if not has_model_explorer():
        if not available("netron"):
            raise MissingBackendError(
                "no graph viewer is installed (Model Explorer or Netron)",
                'pip install "deploykit[viewer]" (or "deploykit[netron]", without overlays)',
            )
        plan.viewer = "netron"
        plan.messages.append(
            "Model Explorer (the viewer extra) is not installed: showing the graph in Netron, "
            'without overlays (pip install "deploykit[viewer]" for them)'
        )
        if plan.graph.suffix == ".onnx" and artifact.suffix == ".tflite":
            plan.graph = artifact
    if not port_free(port):
        plan.port = free_port()
        plan.messages.append(f"port {port} is in use; serving on {plan.port}")
    return plan


def browser_available() -> bool:
    """Whether Python's ``webbrowser`` knows a browser to open."""
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def _explorer_config(plan: ViewPlan):
    import model_explorer

    config = model_explorer.config().add_model_from_path(str(plan.graph.resolve()))
    for path in plan.overlays:
        config.add_node_data_from_path(str(path.resolve()))
    return config


def page_url(plan: ViewPlan) -> str:
    """The address to open: Model Explorer's carries the graph and overlays in ``?data=``."""
    if plan.viewer == "netron":
        return plan.url
    return f"{plan.url}?data={_explorer_config(plan).to_url_param_value()}"


def serve(plan: ViewPlan, open_browser: bool) -> None:
    """Serve until interrupted (Ctrl+C)."""
    if plan.viewer == "netron":
        import netron

        netron.serve(str(plan.graph), None, address=(HOST, plan.port), browse=open_browser)
        with contextlib.suppress(KeyboardInterrupt):
            netron.wait()
        return
    from model_explorer import server

    # Answer the app's version check without asking PyPI (works offline, never waits on DNS).
    server._check_new_version = lambda *args, **kwargs: dict.fromkeys(
        ("version", "runningVersion", "releaseUrl", "desktopAppUrl"), ""
    )
    config = _explorer_config(plan)
    server.start(
        host=HOST,
        port=plan.port,
        config=config,
        no_open_in_browser=not open_browser,
        extensions=["model_explorer_onnx"],
    )
