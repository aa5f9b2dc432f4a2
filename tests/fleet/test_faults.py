"""Deadlines on a real loopback cluster: a device node, then the head's Ray Client server,
stopped (SIGSTOP) mid-sweep; the sweep fails what it cannot measure and finishes."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from deploykit.bench import BenchConfig, TimingConfig, run_bench
from deploykit.fleet.request import FleetRequest

pytestmark = pytest.mark.slow

SLOW = TimingConfig(warmup_iters=2, warmup_s=0.0, min_iters=20, min_s=1.0, max_s=3.0)
CONFIG = BenchConfig(
    backends=("onnxruntime",), batch_sizes=(1, 2, 4, 8), limit=60, timing=SLOW, threads=1
)


def _when(event: threading.Event, action, delay_s: float = 0.0) -> threading.Thread:
    def run():
        if event.wait(180):
            time.sleep(delay_s)
            action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _timed_sweep(onnx, fleet: FleetRequest, **hooks):
    """``run_bench`` of ``onnx`` on ``fleet`` with ``hooks``; the run and its wall seconds."""
    began = time.monotonic()
    run = run_bench([str(onnx)], CONFIG, fleet=fleet, **hooks)
    return run, time.monotonic() - began


def test_a_device_that_stops_answering_fails_its_cells(ray_cluster, digits_onnx):
    ray_cluster.add_devices("dev-s")
    started = threading.Event()
    stopper = _when(started, lambda: ray_cluster.signal_device("dev-s", signal.SIGSTOP), 3.0)
    fleet = FleetRequest(ray_cluster.client, ("dev-a", "dev-s"), reply_timeout_s=10)
    try:
        run, elapsed = _timed_sweep(
            digits_onnx, fleet, progress=lambda text: started.set() if "dev-s" in text else None
        )
    finally:
        stopper.join()
        ray_cluster.signal_device("dev-s", signal.SIGCONT)
        ray_cluster.stop_device("dev-s")
    assert run.complete and len(run.cells) == 8 and elapsed < 240
    by_device = {}
    for cell in run.cells:
        by_device.setdefault(cell.device_name, []).append(cell)
    assert all(c.status == "ok" for c in by_device["dev-a"])
    lost = [c for c in by_device["dev-s"] if c.status == "failed"]
    assert lost and all("device dev-s stopped answering (10 s)" in c.error for c in lost), [
        c.error for c in by_device["dev-s"]
    ]


def test_a_cluster_that_stops_answering_ends_the_sweep(ray_cluster, digits_onnx, tmp_path):
    import psutil

    from deploykit.fleet.listing import devices_at

    head = psutil.Process(ray_cluster.head.pid)
    servers: list[psutil.Process] = []

    def stop_client_servers():
        for proc in head.children(recursive=True):
            if "ray.util.client.server" in " ".join(proc.cmdline()):
                servers.append(proc)
                proc.suspend()

    first_cell = threading.Event()
    stopper = _when(first_cell, stop_client_servers)
    fleet = FleetRequest(ray_cluster.client, ("dev-a",), reply_timeout_s=8)
    checkpoint = tmp_path / "results.json"
    try:
        run, elapsed = _timed_sweep(
            digits_onnx, fleet, checkpoint=checkpoint, on_cell=lambda *_: first_cell.set()
        )
    finally:
        stopper.join()
        for proc in servers:
            proc.resume()
    assert servers, "no Ray Client server found under the head"
    assert run.complete and len(run.cells) == 4 and elapsed < 240
    measured = [c for c in run.cells if c.status == "ok"]
    failed = [c for c in run.cells if c.status == "failed"]
    assert measured and failed  # what was measured before the cluster went quiet is kept
    assert all("the Ray cluster did not answer" in c.error for c in failed), [
        c.error for c in failed
    ]
    assert checkpoint.is_file()
    # resumed, the cluster answers a new driver again
    assert "dev-a" in {d.name for d in devices_at(ray_cluster.client)}
