"""A headless Chromium screenshot of `deploykit view` with overlays: the page shows the graph."""

from __future__ import annotations

import shutil

import pytest

from deploykit.layers.viewer import free_port
from tests.layers.chromium import Browser, chromium
from tests.layers.test_view import _get, _serve, _stop, overlay  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def test_model_explorer_page_shows_graph_and_overlays(culprit, overlay, tmp_path):  # noqa: F811
    pytest.importorskip("model_explorer_onnx", reason="needs the viewer extra")
    if chromium() is None:
        pytest.skip("needs Chromium (apt-get install -y chromium)")
    proc, url, lines = _serve(
        [culprit["int8"], "--overlay", overlay, "--port", free_port(), "--no-browser"]
    )
    browser = None
    try:
        assert url, lines
        _get(url)
        browser = Browser()
        browser.open(url)
        # The graph page replaces the model picker once the ONNX adapter has converted the file.
        assert browser.wait_for("document.querySelectorAll('canvas').length > 0", 120)
        text = browser.evaluate("document.body.innerText")
        assert "culprit_int8.onnx" in text and "nodes" in text
        assert "onnxruntime local_sqnr_db" in text and "onnxruntime sqnr_db" in text
        shot = browser.screenshot(tmp_path / "view.png")
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one (~6 KB)
        shutil.copy(shot, overlay / "view.png")
    finally:
        if browser:
            browser.close()
        _stop(proc)
