"""Connecting to a Ray cluster: the extra, reachability, version checks, one-line errors."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import ModuleType

from deploykit.errors import InputError, first_line
from deploykit.fleet.deadline import REPLY_TIMEOUT_S, ClusterTimeout, bounded
from deploykit.optional import require

NAMESPACE = "deploykit"
RESOURCE_PREFIX = "device:"
# Device names become Ray resource and actor names: keep them to a safe alphabet.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REACH_TIMEOUT_S = 10.0
CONNECT_ATTEMPTS = 3


def ray_module() -> ModuleType:
    """Ray, or a one-line error naming the ``fleet`` extra (exit 3)."""
    return require("ray")


def device_resource(name: str) -> str:
    """The Ray custom resource a device node advertises (``device:NAME``)."""
    return f"{RESOURCE_PREFIX}{name}"


def check_device_name(name: str) -> str:
    """Return ``name`` if it can name a device, else raise a one-line InputError."""
    if not NAME_PATTERN.match(name or ""):
        raise InputError(
            f"device name {name!r} is not usable",
            "use letters, digits, '.', '_' and '-' (at most 64), e.g. orin-nano-15w",
        )
    return name


def split_address(address: str) -> tuple[str, int]:
    """``ray://HOST:PORT`` or ``HOST:PORT`` -> (host, port)."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(
            f"cluster address {address!r} is not HOST:PORT",
            "e.g. ray://10.0.0.5:10001 (Ray Client) or 10.0.0.5:6379 (on a cluster node)",
        )
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Fail in one line, within ``timeout_s``, when nothing listens at ``address``."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer within {timeout_s:g} s"
    raise InputError(
        f"cannot reach the Ray cluster at {address} ({reason})",
        "check the address and that `ray start --head` runs there, on a network you trust",
    )


def version_mismatch_line(message: str) -> str | None:
    """Ray's multi-line "Version mismatch" error as one line (None for other errors)."""
    if "Version mismatch" not in message:
        return None
    rays = re.findall(r"Ray:\s*(\S+)", message)
    pythons = re.findall(r"Python:\s*(\S+)", message)
    if len(rays) >= 2 and len(pythons) >= 2:
        return (
            f"Ray version mismatch: the cluster runs Ray {rays[0]} on Python {pythons[0]}, "
            f"this machine Ray {rays[1]} on Python {pythons[1]}"
        )
    return "Ray version mismatch between this machine and the cluster"


def connect_error(address: str, exc: BaseException) -> InputError:
    """A one-line InputError for a failed ``ray.init``."""
    mismatch = version_mismatch_line(str(exc))
    if mismatch:
        return InputError(mismatch, 'install the same version everywhere: pip install "ray==X"')
    return InputError(
        f"cannot connect to the Ray cluster at {address} ({first_line(exc)})",
        "use ray://HEAD:10001 (Ray Client) from a workstation, HEAD:6379 on a cluster node",
    )


@contextmanager
def connected(
    address: str, node_ip: str | None = None, timeout_s: float = REPLY_TIMEOUT_S
) -> Iterator[ModuleType]:
    """Connect this process to the cluster at ``address`` as a driver; disconnect after.

    Args:
        address: ``ray://HOST:PORT`` (Ray Client) or ``HOST:PORT`` (GCS, from a cluster node).
        node_ip: this node's address when it joined with one (GCS addresses only).
        timeout_s: how long connecting through Ray Client, and disconnecting, may take (a
            cluster that stopped answering is left behind rather than waited for).

    Raises:
        MissingBackendError: without the ``fleet`` extra.
        InputError: unreachable address, version mismatch, any other refusal.
    """
    ray = ray_module()
    check_reachable(address)
    kwargs = {"namespace": NAMESPACE, "logging_level": "ERROR", "log_to_driver": False}
    if node_ip and not address.startswith("ray://"):
        kwargs["_node_ip_address"] = node_ip
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            if address.startswith("ray://"):  # a Ray Client connection can stall in gRPC
                bounded(ray.init, address=address, timeout_s=timeout_s, what="ray.init", **kwargs)
            else:
                ray.init(address=address, **kwargs)
            break
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            # A busy head can fail to start the Ray Client's per-driver server in time.
            if "Initialization failure" not in str(exc) or attempt + 1 == CONNECT_ATTEMPTS:
                raise connect_error(address, exc) from None
            time.sleep(2.0)
    try:
        yield ray
    finally:
        with suppress(ClusterTimeout):
            bounded(ray.shutdown, timeout_s=timeout_s, what="ray.shutdown")
