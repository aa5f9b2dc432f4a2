"""`deploykit view`: served on 127.0.0.1, a free port when asked for a taken one, Netron
without the viewer extra, the URL printed when there is no browser."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from deploykit.layers.api import LayersRequest, layer_report
from deploykit.layers.outputs import write_outputs
from deploykit.layers.viewer import free_port, plan_view


@pytest.fixture(scope="module")
def overlay(culprit, layers_work):
    out = layers_work / "view"
    report = layer_report(culprit["int8"], LayersRequest(latency=False, samples=4), out)
    write_outputs(report, out)
    return out


def _serve(args, env=None):
    """Start `deploykit view`; return the process and the URL it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploykit", "view", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    while proc.poll() is None and len(lines) < 2:
        lines.append(proc.stdout.readline().strip())
    url = next((line for line in lines if line.startswith("http://127.0.0.1:")), None)
    return proc, url, lines


def _get(url: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _stop(proc) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    return err


def test_taken_port_moves_to_a_free_one(culprit, overlay):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        plan = plan_view(culprit["int8"], overlay, port)
    assert plan.port != port and f"port {port} is in use; serving on {plan.port}" in plan.messages
    assert len(plan.overlays) == 2 and all(p.is_file() for p in plan.overlays)  # local, cumulative


def test_overlays_of_another_graph_are_refused(user_error, cli, slow, overlay):
    user_error(cli("view", slow, "--overlay", overlay, "--no-browser"), "were made for")


def test_model_explorer_serves_the_graph_with_overlays(culprit, overlay):
    pytest.importorskip("model_explorer_onnx", reason="needs the viewer extra")
    proc, url, lines = _serve(
        [culprit["int8"], "--overlay", overlay, "--port", free_port(), "--no-browser"]
    )
    try:
        assert url and "onnxruntime.local_sqnr_db.json" in urllib.request.unquote(url), lines
        assert _get(url) == 200
    finally:
        _stop(proc)


def test_netron_without_the_viewer_extra_and_no_browser(culprit, overlay, tmp_path):
    pytest.importorskip("netron", reason="needs the netron extra")
    # Hide Model Explorer: a sitecustomize that makes its import fail, as when it is not installed.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nsys.modules['model_explorer'] = None\nsys.modules['model_explorer_onnx'] = None\n"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    proc, url, lines = _serve([culprit["int8"], "--overlay", overlay, "--port", free_port()], env)
    try:
        assert url and url.endswith("/"), lines
        assert _get(url) == 200
    finally:
        err = _stop(proc)
    assert "Model Explorer (the viewer extra) is not installed: showing the graph in Netron" in err
    assert "no browser found here" in err
    assert json.loads((overlay / "explorer" / "index.json").read_text())["files"]
