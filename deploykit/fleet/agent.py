"""``deploykit agent``: make this machine a device node of a Ray cluster.

The agent runs ``ray start --block`` as a child (no general CPUs, so nothing but
pinned cells lands here; one ``device:NAME`` resource, so cells run one at a
time), waits for the node to join, claims the device name with a detached
:class:`~deploykit.fleet.inventory.DevicePublisher` actor on its own node, and
then stays in the foreground until the node stops or it is interrupted. A name
another live node already serves is refused and the node taken down again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploykit.errors import DeployKitError, InputError, first_line
from deploykit.fileio import ensure_dir
from deploykit.fleet.cluster import (
    NAMESPACE,
    check_device_name,
    check_reachable,
    connected,
    device_resource,
    ray_module,
    version_mismatch_line,
)
from deploykit.fleet.inventory import INFO_TIMEOUT_S, DevicePublisher, actor_name
from deploykit.fleet.transfer import CACHE_ENV, cache_root
from deploykit.options import check_options, option

START_TIMEOUT_S = 90.0
STARTED = "Ray runtime started"


def parse_port_range(text: str) -> tuple[int, int]:
    """``"LOW-HIGH"`` -> (low, high), ports in 1-65535 with low <= high.

    Raises:
        InputError: anything else, in one line.
    """
    low, sep, high = str(text).partition("-")
    if sep and low.strip().isdigit() and high.strip().isdigit():
        pair = int(low), int(high)
        if 1 <= pair[0] <= pair[1] <= 65535:
            return pair
    raise InputError(
        f"worker ports {text!r} are not a port range",
        "write LOW-HIGH, e.g. 20000-20099 (one port per Ray worker process of the node)",
    )


# AgentRequest field -> the ``ray start`` flag that pins that port of the node.
PORT_FLAGS = {
    "node_manager_port": "--node-manager-port",
    "object_manager_port": "--object-manager-port",
    "dashboard_agent_grpc_port": "--dashboard-agent-grpc-port",
    "dashboard_agent_listen_port": "--dashboard-agent-listen-port",
    "runtime_env_agent_port": "--runtime-env-agent-port",
    "metrics_export_port": "--metrics-export-port",
}


def _port(help_text: str) -> int | None:
    """A port option of the agent (None: Ray's choice)."""
    return option(None, help_text, min=1, max=65535, suite=False)


@dataclass(frozen=True)
class AgentRequest:
    """How this machine joins a cluster as a device.

    Attributes:
        address: the head's GCS address.
        device: the device name cells are pinned to.
        node_ip: this machine's address on the cluster network (None: Ray's guess).
        object_store_mib: the node's object store size (None: Ray's default).
        cache: where shipped artifacts and built engines are kept (None:
            ``$DEPLOYKIT_FLEET_CACHE`` or ``~/.cache/deploykit/fleet``).
        node_manager_port, object_manager_port, dashboard_agent_grpc_port,
            dashboard_agent_listen_port, runtime_env_agent_port, metrics_export_port: the
            port each of the node's services listens on (None: Ray's choice, mostly a
            random free port; see ``PORT_FLAGS``).
        worker_ports: the (low, high) port range of the node's worker processes (None:
            Ray's 10002-19999).
    """

    address: str = option("", "The head's GCS address, HEAD:6379.", suite=False)
    device: str = option("", "This device's name, e.g. orin-nano-15w.", suite=False)
    node_ip: str | None = option(
        None,
        "This machine's address on the cluster network.",
        flag="--node-ip-address",
        suite=False,
    )
    object_store_mib: int | None = option(
        None, "Object store size.", min=1, unit="MiB", suite=False
    )
    cache: Path | None = option(
        None, "Where shipped artifacts and built engines are kept.", suite=False
    )
    node_manager_port: int | None = _port("The node manager's port (default: random).")
    object_manager_port: int | None = _port("The object manager's port (default: random).")
    dashboard_agent_grpc_port: int | None = _port(
        "The dashboard agent's gRPC port (default: random)."
    )
    dashboard_agent_listen_port: int | None = _port(
        "The dashboard agent's HTTP port (default: 52365)."
    )
    runtime_env_agent_port: int | None = _port(
        "The runtime-environment agent's port (default: random)."
    )
    metrics_export_port: int | None = _port(
        "The metrics export (Prometheus) port (default: random)."
    )
    worker_ports: tuple[int, int] | None = option(
        None,
        "Ports of the node's worker processes, LOW-HIGH (default: Ray's 10002-19999).",
        parse=parse_port_range,
        suite=False,
    )

    def __post_init__(self) -> None:
        check_options(self)


def node_command(request: AgentRequest) -> list[str]:
    """The ``ray start`` command line of a device node.

    Args:
        request: the address, device name and node settings (ports, object store).
    """
    command = [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--address",
        request.address,
        "--num-cpus",
        "0",
        "--resources",
        json.dumps({device_resource(request.device): 1}),
        "--disable-usage-stats",
        "--block",
    ]
    if request.node_ip:
        command += ["--node-ip-address", request.node_ip]
    if request.object_store_mib:
        command += ["--object-store-memory", str(request.object_store_mib * 2**20)]
    for name, flag in PORT_FLAGS.items():
        if getattr(request, name) is not None:
            command += [flag, str(getattr(request, name))]
    if request.worker_ports:
        low, high = request.worker_ports
        command += ["--min-worker-port", str(low), "--max-worker-port", str(high)]
    return command


def _stop(proc: subprocess.Popen) -> None:
    """Take the node down: SIGTERM to its process group, SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _node_failed(log: Path, address: str) -> InputError:
    text = log.read_text(errors="replace") if log.is_file() else ""
    mismatch = version_mismatch_line(text)
    if mismatch:
        return InputError(mismatch, 'install the same version everywhere: pip install "ray==X"')
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()] or lines
    reason = errors[-1][:200] if errors else "no output"
    return InputError(f"the Ray node could not join {address} ({reason})", f"see {log}")


def _wait_started(proc: subprocess.Popen, log: Path, address: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _node_failed(log, address)
        if STARTED in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    _stop(proc)
    raise InputError(
        f"the Ray node did not join {address} within {START_TIMEOUT_S:g} s", f"see {log}"
    )


def claim(address: str, device: str, node_ip: str | None) -> dict:
    """Publish this node as ``device``; return its record (refuses a name already served).

    Args:
        address: the head's GCS address.
        device: the device name.
        node_ip: this node's address, when it joined with one.
    """
    with connected(address, node_ip) as ray:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        own = ray.get_runtime_context().get_node_id()
        resource = device_resource(device)
        for node in ray.nodes():
            if node["Alive"] and node["NodeID"] != own and resource in node["Resources"]:
                raise InputError(
                    f"device name {device!r} is already served by node {node['NodeManagerAddress']}",
                    "give this device another --device name, or stop the other agent first",
                )
        publisher = ray.remote(DevicePublisher).options(
            name=actor_name(device),
            namespace=NAMESPACE,
            lifetime="detached",
            num_cpus=0,
            max_restarts=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(own, soft=False),
        )
        try:
            actor = publisher.remote(device)
        except ValueError:  # the name is taken: another agent claimed it a moment ago
            raise InputError(
                f"device name {device!r} is already claimed by another agent",
                "give this device another --device name, or stop the other agent first",
            ) from None
        return ray.get(actor.info.remote(), timeout=INFO_TIMEOUT_S * 3)


def run_agent(request: AgentRequest, on_ready: Callable[[dict], None] | None = None) -> int:
    """Join the cluster as a device and serve until the node stops or this is interrupted.

    Args:
        request: the address, device name and node settings.
        on_ready: called with the device record once the name is claimed.

    Returns:
        the node's exit code (0 after an interrupt).

    Raises:
        MissingBackendError: without the ``fleet`` extra.
        InputError: bad name or address, version mismatch, a name already served.
    """
    address, device, node_ip = request.address, request.device, request.node_ip
    ray_module()
    check_device_name(device)
    if not address:
        raise InputError("no cluster address", "pass --address HEAD:6379")
    if address.startswith("ray://"):
        raise InputError(
            f"an agent joins through the head's GCS address, not {address}",
            "pass --address HEAD:6379 (the port `ray start --head` printed)",
        )
    check_reachable(address)
    # Leaving is meant: no 30 s drain (the publisher actor would hold it open to the end).
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")
    if request.cache is not None:
        env[CACHE_ENV] = str(Path(request.cache).resolve())
    log = ensure_dir(Path(request.cache or cache_root()) / "logs") / f"node-{device}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            node_command(request),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # the node's processes stop with it
        )
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a stopped agent takes its node down
    try:
        _wait_started(proc, log, address)
        try:
            record = claim(address, device, node_ip)
        except DeployKitError:
            raise
        except Exception as exc:  # Ray refused the actor or timed out
            raise InputError(
                f"device {device!r} could not be published ({first_line(exc)})"
            ) from None
        signal.signal(signal.SIGTERM, _interrupt)  # ray.init and ray.shutdown replaced it
        if on_ready:
            on_ready(record)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(proc)
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
