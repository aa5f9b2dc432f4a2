"""The device axis of a sweep: which devices (or pools of devices) the cells run for.

A ``devices:`` entry is a device name, a glob pattern (every live device it
matches becomes a column of its own), or a pool ``LABEL=PATTERN``:
interchangeable devices (three identical Jetsons, say) that share one column,
each cell running once on whichever member is free. A pool may retry a cell on
another member when the one measuring it dies (``device_retry``).
"""

from __future__ import annotations

from dataclasses import dataclass

from deploykit.errors import InputError
from deploykit.fleet.cluster import check_device_name
from deploykit.fleet.inventory import Device, expand, is_pattern


@dataclass(frozen=True)
class DeviceEntry:
    """One entry of a sweep's device list.

    Attributes:
        match: a device name or glob pattern.
        pool: column label when the matching devices form a pool (None: one column each).
        retry: re-run a pool member's cell on another member when the member dies.
    """

    match: str
    pool: str | None = None
    retry: bool = False

    @classmethod
    def parse(cls, text: str, retry: bool = False) -> DeviceEntry:
        """From ``"name"``, ``"pattern*"`` or ``"LABEL=PATTERN"`` (a pool).

        Args:
            text: the entry as written in a suite or on the command line.
            retry: for a pool, whether a lost cell may move to another member.
        """
        label, sep, match = text.partition("=")
        if sep:
            if not match.strip():
                raise InputError(
                    f"device pool {text!r} has no pattern", "write it as LABEL=PATTERN"
                )
            return cls(match.strip(), check_device_name(label.strip()), retry)
        if not is_pattern(text):
            check_device_name(text)
        return cls(text)


@dataclass(frozen=True)
class Column:
    """One device column of a sweep.

    Attributes:
        label: the name cells record as their ``device_name``.
        members: the devices that may measure its cells.
        retry: whether a lost cell may move to another member.
    """

    label: str
    members: tuple[str, ...]
    retry: bool = False


def resolve_columns(entries: tuple[DeviceEntry, ...], devices: list[Device]) -> list[Column]:
    """Turn device entries into columns against the cluster's inventory.

    Raises:
        InputError: no entries, a pattern matching no live device, or a label used twice.
    """
    if not entries:
        raise InputError("no devices to run on", "list them in the suite's devices: key")
    columns: list[Column] = []
    for entry in entries:
        names = expand(entry.match, devices)
        if entry.pool:
            columns.append(Column(entry.pool, tuple(names), entry.retry))
        else:
            columns.extend(Column(name, (name,)) for name in names)
    labels = [c.label for c in columns]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise InputError(
            f"device {twice[0]!r} appears twice in the device list", "list each device once"
        )
    return columns
