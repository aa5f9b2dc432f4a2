"""Run a benchmark across fleet devices: one Ray task per (item, backend, device) group.

The entry point checks the request (artifacts against their manifests, the
cluster, Ray versions and device entries) and hands the sweep to
:class:`~deploykit.fleet.sweep.Sweep`, which schedules the groups on the devices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploykit.bench.api import (
    BenchConfig,
    BenchItem,
    CellDone,
    Progress,
    check_artifacts,
    plan_groups,
)
from deploykit.bench.environment import environment
from deploykit.bench.results import BenchRun
from deploykit.fleet.cluster import connected, ray_module
from deploykit.fleet.columns import Column, resolve_columns
from deploykit.fleet.inventory import Device, check_ray_versions, list_devices
from deploykit.fleet.request import FleetRequest
from deploykit.fleet.sweep import Sweep


def run_on_fleet(
    items: list[str | BenchItem],
    config: BenchConfig,
    fleet: FleetRequest,
    progress: Progress | None,
    on_cell: CellDone | None,
    checkpoint: Path | None,
    extra: dict[str, Any] | None,
) -> BenchRun:
    """:func:`deploykit.bench.run_bench` with ``fleet``: the same arguments, measured on the
    cluster's devices (``config.isolate`` is always on there).

    Raises:
        DeployKitError: no Ray (exit 3), unreachable cluster, version mismatch, bad items,
            artifacts modified since export (without ``config.allow_modified``), or device
            patterns that match nothing.
    """
    ray_module()
    refs = [i.ref if isinstance(i, BenchItem) else i for i in items]
    modified = check_artifacts(refs, config.allow_modified)
    data, groups, _refused = plan_groups(items, config)  # fleet rows: runnable cells only
    groups = _engine_groups(groups)
    with connected(fleet.cluster, timeout_s=fleet.reply_timeout_s) as ray:
        devices, columns = _resolve(ray, fleet)
        sweep = Sweep(ray, config, fleet, groups, columns, checkpoint, on_cell, progress)
        refs = list({id(item): item.ref for item, _, _ in groups}.values())
        record = {**config.to_dict(), "items": refs, "modified_artifacts": modified}
        sweep.run_record = BenchRun(
            [],
            environment(refs),
            {**record, "fleet": _fleet_record(fleet), "notes": sweep.notes, **(extra or {})},
            complete=False,
            devices={d.name: d.environment for d in devices if d.alive},
        )
        return sweep.run(data)


def _resolve(ray, fleet: FleetRequest) -> tuple[list[Device], list[Column]]:
    devices = list_devices(ray, fleet.reply_timeout_s)
    check_ray_versions(devices, ray.__version__)
    return devices, resolve_columns(fleet.entries(), devices)


def preflight(fleet: FleetRequest) -> list[Column]:
    """Check the cluster, Ray versions and device entries before any work; the device columns.

    Raises:
        DeployKitError: no Ray (exit 3), unreachable cluster, version mismatch, or a device
            pattern that matches nothing, each in one line.
    """
    with connected(fleet.cluster, timeout_s=fleet.reply_timeout_s) as ray:
        return _resolve(ray, fleet)[1]


def _engine_groups(groups: list) -> list:
    """Items whose engine is built on the device run on TensorRT alone (one group each)."""
    out, seen = [], set()
    for item, subject, backend in groups:
        if item.engine is None:
            out.append((item, subject, backend))
        elif id(item) not in seen:
            seen.add(id(item))
            out.append((item, subject, "tensorrt"))
    return out


def _fleet_record(fleet: FleetRequest) -> dict[str, Any]:
    return {
        "cluster": fleet.cluster,
        "devices": list(fleet.devices),
        "device_retry": fleet.device_retry,
        "device_timeout_s": fleet.device_timeout_s,
        "reply_timeout_s": fleet.reply_timeout_s,
    }
