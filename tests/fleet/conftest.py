"""A real Ray cluster on loopback, shared by the fleet tests (see ``deploykit.fleet.local``).

A head on 127.0.0.2 and two device nodes, each a real ``deploykit agent`` in a
process group of its own; the session's teardown stops every process it started.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray", reason='needs the fleet extra: pip install "deploykit[fleet]"')

from deploykit.fleet.local import LocalCluster


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    """A head and two device nodes, ``dev-a`` and ``dev-b``."""
    cluster = LocalCluster(tmp_path_factory.mktemp("ray"))
    try:
        cluster.start_head()
        cluster.add_devices("dev-a", "dev-b")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def digits_onnx(tmp_path_factory, trained_resnet) -> Path:
    """demo_resnet trained on digits, exported to ONNX FP32 (32x32), with its manifest."""
    from deploykit.export import ExportRequest, export_model

    out = tmp_path_factory.mktemp("onnx")
    return export_model(trained_resnet, ExportRequest(target="onnx", out_dir=out)).artifact
