"""The inventory as a table and as JSON (``deploykit devices``)."""

from __future__ import annotations

from typing import Any

from deploykit.fleet.cluster import connected
from deploykit.fleet.deadline import REPLY_TIMEOUT_S
from deploykit.fleet.inventory import Device, list_devices

# Libraries worth a column: the runtimes a cell may use.
SHOWN_LIBRARIES = ("onnxruntime", "openvino", "tensorrt", "ai-edge-litert", "torch")


def devices_at(address: str, timeout_s: float = REPLY_TIMEOUT_S) -> list[Device]:
    """Every device of the cluster at ``address`` (see :func:`list_devices`).

    Args:
        address: the cluster's Ray Client address.
        timeout_s: how long the cluster may take to answer.
    """
    with connected(address, timeout_s=timeout_s) as ray:
        return list_devices(ray, timeout_s)


def device_row(device: Device) -> dict[str, Any]:
    """One device as a flat record: name, status, node, CPU, GPU, libraries, Ray."""
    env = device.environment
    cpu = env.get("cpu", {})
    gpus = env.get("gpus") or []
    jetson = env.get("jetson") or {}
    libraries = env.get("libraries", {})
    return {
        "name": device.name,
        "status": device.status,
        "node": device.node_ip,
        "cpu": f"{cpu.get('model', '?')} ({cpu.get('logical_cores', '?')} cores)" if cpu else "",
        "gpu": jetson.get("model") or ", ".join(g.get("name", "?") for g in gpus) or "none",
        "libraries": ", ".join(f"{k} {libraries[k]}" for k in SHOWN_LIBRARIES if k in libraries),
        "ray": device.ray_version or "",
    }


def devices_table(devices: list[Device]):
    """A rich Table of :func:`device_row` records."""
    from rich.table import Table

    table = Table(title="fleet devices")
    for column in ("name", "status", "node", "cpu", "gpu", "libraries", "ray"):
        table.add_column(column)
    for device in devices:
        row = device_row(device)
        style = None if device.status == "ready" else "red"
        table.add_row(*(str(v) for v in row.values()), style=style)
    return table
