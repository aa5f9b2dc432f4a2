"""The fleet options of ``deploykit bench`` and of a suite, declared once."""

from __future__ import annotations

from dataclasses import dataclass

from deploykit.fleet.columns import DeviceEntry
from deploykit.fleet.deadline import REPLY_TIMEOUT_S
from deploykit.options import check_options, option


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class FleetRequest:
    """Where a sweep runs when it runs on a fleet.

    Attributes:
        cluster: the Ray cluster; None runs locally.
        devices: device names, glob patterns, or ``LABEL=PATTERN`` pools.
        device_retry: re-run a pool member's lost cell on another member.
        device_timeout_s: how long cells wait for a device no live node serves.
        reply_timeout_s: how long the driver waits for any answer from the cluster, and
            for a word (a finished cell or a heartbeat) from a device measuring a group.
    """

    cluster: str | None = option(
        None,
        "Run on the devices of this Ray cluster: ray://HEAD:10001 (the fleet extra).",
        suite=False,
    )
    devices: tuple[str, ...] = option(
        (),
        "Fleet devices: names, glob patterns (a column per match) or LABEL=PATTERN pools "
        "(any matching device runs each cell); default: every live device.",
        flag="--device",
        parse=_split,
    )
    device_retry: bool = option(
        False, "Re-run a pool member's cell on another member when its device dies."
    )
    device_timeout_s: float = option(
        120.0,
        "Fail the cells of a device that no live node serves after this long.",
        flag="--device-timeout",
        min=0,
        exclusive=True,
        unit="s",
    )

    reply_timeout_s: float = option(
        REPLY_TIMEOUT_S,
        "Fail the cells waiting on a cluster call or a running device that gives no answer "
        "for this long.",
        flag="--reply-timeout",
        min=0,
        exclusive=True,
        unit="s",
    )

    def __post_init__(self) -> None:
        check_options(self)
        self.entries()  # a bad name or pool fails here, in one line

    def entries(self) -> tuple[DeviceEntry, ...]:
        """The device entries (every live device when none are given)."""
        return tuple(DeviceEntry.parse(d, self.device_retry) for d in self.devices or ("*",))
