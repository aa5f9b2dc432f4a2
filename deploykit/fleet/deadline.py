"""A deadline on every blocking call the driver makes to a Ray cluster.

A Ray Client call can block inside gRPC and never return (seen once with
``ray.wait(timeout=0.5)``: Ray's own timeout did not apply). :func:`bounded`
runs the call in a daemon thread and gives up on it after ``timeout_s``; the
abandoned thread cannot hold the process open, and the caller fails the cells
the call was for instead of waiting forever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from deploykit.errors import DeployKitError

T = TypeVar("T")
# How long the driver waits for any one answer from the cluster or a running device.
REPLY_TIMEOUT_S = 60.0


class ClusterTimeout(DeployKitError):
    """The Ray cluster did not answer a call in time."""


def bounded(call: Callable[..., T], *args: Any, timeout_s: float, what: str, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, or :class:`ClusterTimeout` after ``timeout_s`` seconds.

    Args:
        call: the blocking function (``ray.wait``, ``ray.get``, ``ray.nodes``...).
        *args: its positional arguments.
        timeout_s: how long to wait for it.
        what: what the call does, for the error (e.g. ``"ray.wait"``).
        **kwargs: its keyword arguments.

    Raises:
        ClusterTimeout: the call did not return in time (it is left running, abandoned).
        Exception: whatever ``call`` raised.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"deploykit-{what}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise ClusterTimeout(
            f"the Ray cluster did not answer {what} within {timeout_s:g} s",
            "check the head node and the network; what was measured is kept",
        )
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass(frozen=True)
class Deadline:
    """:func:`bounded` with one timeout for a whole sweep.

    Attributes:
        timeout_s: how long any one call may take (plus ``extra_s`` where a call passes it).
    """

    timeout_s: float = REPLY_TIMEOUT_S

    def __call__(
        self, call: Callable[..., T], *args: Any, what: str, extra_s: float = 0.0, **kwargs: Any
    ) -> T:
        """``bounded(call, *args, **kwargs)`` within ``timeout_s + extra_s`` seconds."""
        return bounded(call, *args, timeout_s=self.timeout_s + extra_s, what=what, **kwargs)
