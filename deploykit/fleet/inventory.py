"""Which devices serve a cluster: their names, status and environment capture.

Every agent leaves a small detached actor on its device node, named after the
device (:class:`DevicePublisher`); it captured the device's environment when the
agent started (the same record bench stores with every result) and lives and dies
with the node. Ray's node table says which device names are (or were) served.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from typing import Any

from deploykit.errors import InputError, first_line
from deploykit.fleet.cluster import NAMESPACE, RESOURCE_PREFIX
from deploykit.fleet.deadline import REPLY_TIMEOUT_S, bounded

INFO_TIMEOUT_S = 20.0


def actor_name(device: str) -> str:
    """The name of the publisher actor of ``device``."""
    return f"{RESOURCE_PREFIX}{device}"


class DevicePublisher:
    """Runs on a device node (as a Ray actor): holds what that device is.

    Args:
        name: the device name the agent claimed.
    """

    def __init__(self, name: str) -> None:
        import ray

        from deploykit import __version__
        from deploykit.bench.environment import environment

        self.record = {
            "name": name,
            "node_id": ray.get_runtime_context().get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "ray": ray.__version__,
            "deploykit": __version__,
            "environment": environment(),
        }

    def info(self) -> dict[str, Any]:
        """The device record (name, node, versions, environment)."""
        return self.record


@dataclass
class Device:
    """One device as the cluster knows it.

    Attributes:
        name: the device name (its ``device:NAME`` resource).
        alive: whether a live node serves it.
        node_ip: address of the (last) node that served it.
        ray_version: Ray on the device, when its publisher answered.
        environment: the device's environment capture, when its publisher answered.
        error: why the publisher did not answer, when it did not.
    """

    name: str
    alive: bool
    node_ip: str | None = None
    ray_version: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def status(self) -> str:
        if not self.alive:
            return "dead"
        return "ready" if self.environment else f"no info ({self.error})"


def served_devices(ray) -> dict[str, tuple[bool, str]]:
    """Device name -> (alive, node address) from Ray's node table (a live node wins)."""
    served: dict[str, tuple[bool, str]] = {}
    for node in ray.nodes():
        for resource in node.get("Resources", {}) or node.get("resources_total", {}):
            if not resource.startswith(RESOURCE_PREFIX):
                continue
            name = resource[len(RESOURCE_PREFIX) :]
            if name not in served or node["Alive"]:
                served[name] = (bool(node["Alive"]), node["NodeManagerAddress"])
    return served


def alive_devices(ray) -> set[str]:
    """Names of the devices a live node serves right now."""
    return {name for name, (alive, _ip) in served_devices(ray).items() if alive}


def list_devices(ray, timeout_s: float = REPLY_TIMEOUT_S) -> list[Device]:
    """Every device the cluster knows, with its environment when it is alive.

    Args:
        ray: the connected ``ray`` module.
        timeout_s: how long the cluster may take to answer (publishers get
            ``INFO_TIMEOUT_S`` more, all together).

    Raises:
        ClusterTimeout: the cluster did not answer in time.
    """
    return bounded(
        _list_devices, ray, timeout_s=timeout_s + INFO_TIMEOUT_S, what="listing the devices"
    )


def _list_devices(ray) -> list[Device]:
    devices = [Device(name, alive, ip) for name, (alive, ip) in sorted(served_devices(ray).items())]
    asked = {}
    for device in devices:
        if device.alive:
            try:
                actor = ray.get_actor(actor_name(device.name), namespace=NAMESPACE)
                asked[device.name] = actor.info.remote()
            except Exception as exc:  # no publisher yet, or it died with its node
                device.error = first_line(exc, 80)
    deadline = time.monotonic() + INFO_TIMEOUT_S  # the publishers answer side by side
    for device in devices:
        if device.name not in asked:
            continue
        try:
            left = max(deadline - time.monotonic(), 0.1)
            record = ray.get(asked[device.name], timeout=left)
            device.ray_version = record["ray"]
            device.environment = record["environment"]
        except Exception as exc:  # it died with its node, or does not answer
            device.error = first_line(exc, 80)
    return devices


def check_ray_versions(devices: list[Device], local: str) -> None:
    """Refuse, in one line, a device whose Ray differs from the driver's ``local`` version."""
    for device in devices:
        if device.ray_version and device.ray_version != local:
            raise InputError(
                f"Ray version mismatch: device {device.name} runs Ray {device.ray_version}, "
                f"this machine Ray {local}",
                'install the same version everywhere: pip install "ray==X"',
            )


def is_pattern(text: str) -> bool:
    """Whether a device entry is a glob pattern rather than a name."""
    return any(ch in text for ch in "*?[")


def expand(entry: str, devices: list[Device]) -> list[str]:
    """Names an entry stands for: itself (even if absent), or the live devices it matches.

    Raises:
        InputError: a pattern that matches no live device.
    """
    if not is_pattern(entry):
        return [entry]
    alive = [d.name for d in devices if d.alive]
    matched = [name for name in alive if fnmatch.fnmatchcase(name, entry)]
    if not matched:
        known = ", ".join(alive) or "none"
        raise InputError(
            f"device pattern {entry!r} matches no device of the cluster (live: {known})",
            "start `deploykit agent` on the device, or fix the pattern",
        )
    return matched
