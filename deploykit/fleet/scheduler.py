"""Run a benchmark across fleet devices: one Ray task per (item, backend, batch, device) cell.

The driver keeps a queue of cells per device column and hands a cell to a member
device only when that device is idle, pinned by its ``device:NAME`` resource (whose
whole amount the task requests), so latency runs never overlap on a device. Every
finished cell is written to the checkpoint at once (``complete: false`` until the
end). A device whose node dies loses its running cell (retried on another pool
member when allowed, else failed with the reason) and its queued cells fail; a
device nobody serves fails its cells after ``device_timeout_s``. Ctrl-C cancels
the remote tasks and keeps what was measured.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deploykit.bench.api import (
    BenchConfig,
    BenchItem,
    CellDone,
    Progress,
    base_cell,
    fill_cell,
    group_plan,
    plan_groups,
    score_against_reference,
    source_to_json,
)
from deploykit.bench.environment import environment
from deploykit.bench.results import BenchRun, Cell
from deploykit.errors import first_line
from deploykit.fleet.cluster import connected, device_resource, ray_module
from deploykit.fleet.columns import Column, resolve_columns
from deploykit.fleet.inventory import Device, alive_devices, check_ray_versions, list_devices
from deploykit.fleet.remote import TASK_OPTIONS, run_cell
from deploykit.fleet.request import FleetRequest
from deploykit.fleet.transfer import pack

POLL_S = 0.5


@dataclass
class _Task:
    """One cell waiting, running or done."""

    cell: Cell
    group: int
    column: Column
    accuracy: bool
    tried: list[str] = field(default_factory=list)


@dataclass
class _Member:
    """One device serving a column, as the driver sees it."""

    name: str
    column: Column
    task: _Task | None = None
    ref: Any = None
    seen: bool = False
    gone: str | None = None


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
        DeployKitError: no Ray (exit 3), unreachable cluster, version mismatch, bad items
            or device patterns that match nothing.
    """
    ray_module()
    data, groups, _refused = plan_groups(items, config)  # fleet rows: runnable cells only
    groups = _engine_groups(groups)
    with connected(fleet.cluster) as ray:
        devices, columns = _resolve(ray, fleet)
        sweep = _Sweep(ray, config, fleet, groups, data, columns, checkpoint, on_cell, progress)
        refs = list({id(item): item.ref for item, _, _ in groups}.values())
        sweep.run_record = BenchRun(
            [],
            environment(refs),
            {**config.to_dict(), "items": refs, "fleet": _fleet_record(fleet), **(extra or {})},
            complete=False,
            devices={d.name: d.environment for d in devices if d.alive},
        )
        return sweep.run()


def _resolve(ray, fleet: FleetRequest) -> tuple[list[Device], list[Column]]:
    devices = list_devices(ray)
    check_ray_versions(devices, ray.__version__)
    return devices, resolve_columns(fleet.entries(), devices)


def preflight(fleet: FleetRequest) -> list[Column]:
    """Check the cluster, Ray versions and device entries before any work; the device columns.

    Raises:
        DeployKitError: no Ray (exit 3), unreachable cluster, version mismatch, or a device
            pattern that matches nothing, each in one line.
    """
    with connected(fleet.cluster) as ray:
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
    }


class _Sweep:
    """The driver's state for one fleet sweep."""

    def __init__(
        self, ray, config, fleet, groups, data, columns, checkpoint, on_cell, progress
    ) -> None:
        self.ray, self.config, self.fleet, self.groups = ray, config, fleet, groups
        self.checkpoint, self.on_cell, self.progress = checkpoint, on_cell, progress
        self.remote = ray.remote(**TASK_OPTIONS)(run_cell)
        self.payloads = self._ship(groups, data)
        self.tasks: list[_Task] = []
        self.queues: dict[str, deque[_Task]] = {c.label: deque() for c in columns}
        for column in columns:
            for index, (item, subject, backend) in enumerate(groups):
                for n, batch in enumerate(config.batch_sizes):
                    cell = replace(base_cell(subject, backend, batch), device_name=column.label)
                    if item.engine is not None:  # built on the device from this ONNX graph
                        cell.fmt, cell.precision = "engine", item.engine["precision"]
                        cell.label, cell.size_bytes = f"{Path(item.ref).stem}.engine", None
                    task = _Task(cell, index, column, accuracy=n == 0)
                    self.tasks.append(task)
                    self.queues[column.label].append(task)
        self.members = [_Member(name, c) for c in columns for name in c.members]
        self.done = 0
        self.results: dict[tuple[int, str], dict[str, Any]] = {}
        self.run_record: BenchRun | None = None

    def _ship(self, groups, data) -> list[dict[str, Any]]:
        """Put every file and prepared input into the object store once; per-group payloads."""
        from deploykit.data import prepare

        stored: dict[Any, tuple[Any, Any]] = {}

        def put_file(path: Path) -> tuple[Any, Any]:
            if path not in stored:
                packed, blob = pack(path)
                stored[path] = (packed.to_dict(), self.ray.put(blob))
            return stored[path]

        payloads = []
        for item, subject, backend in groups:
            source = source_to_json(item.source or self.config.source)
            payload: dict[str, Any] = {"item": item.ref, "source": source, "backend": backend}
            payload["artifact"], payload["artifact_ref"] = (
                put_file(Path(item.ref)) if Path(item.ref).is_file() else (None, None)
            )
            weights = source.get("weights")
            payload["weights"], payload["weights_ref"] = (
                put_file(Path(weights)) if weights else (None, None)
            )
            calib = (item.engine or {}).get("calib")
            payload["engine"] = item.engine
            payload["calib"], payload["calib_ref"] = (
                put_file(Path(calib)) if calib else (None, None)
            )
            if ("data", id(subject)) not in stored:
                x = prepare(data.images, subject.spec)
                stored[("data", id(subject))] = (
                    None,
                    self.ray.put({"x": x, "labels": data.labels}),
                )
            payload["data_ref"] = stored[("data", id(subject))][1]
            payloads.append(payload)
        return payloads

    def run(self) -> BenchRun:
        started = time.monotonic()
        last_check = 0.0
        try:
            while any(self.queues.values()) or any(m.task for m in self.members):
                self._dispatch()
                busy = {m.ref: m for m in self.members if m.task is not None}
                if busy:
                    ready, _ = self.ray.wait(list(busy), num_returns=1, timeout=POLL_S)
                    for ref in ready:
                        self._finish(busy[ref])
                else:
                    time.sleep(POLL_S)
                if time.monotonic() - last_check >= POLL_S:
                    last_check = time.monotonic()
                    self._check_members(last_check - started)
        except BaseException:
            self._cancel_all()
            self._save()
            raise
        return self._final()

    def _dispatch(self) -> None:
        for member in self.members:
            queue = self.queues[member.column.label]
            if member.task is None and member.gone is None and queue:
                task = queue.popleft()
                task.tried.append(member.name)
                payload = self.payloads[task.group]
                plan = group_plan(self.config, payload["backend"], (task.cell.batch,))
                spec = {
                    "item": payload["item"],
                    "source": payload["source"],
                    "artifact": payload["artifact"],
                    "weights": payload["weights"],
                    "engine": payload["engine"],
                    "calib": payload["calib"],
                    "plan": {**plan.to_dict(), "accuracy": task.accuracy},
                    "timeout_s": self.config.timeout_s,
                    "device": member.name,
                }
                member.task = task
                member.ref = self.remote.options(
                    resources={device_resource(member.name): 1}
                ).remote(
                    spec,
                    payload["artifact_ref"],
                    payload["weights_ref"],
                    payload["calib_ref"],
                    payload["data_ref"],
                )
                if self.progress:
                    self.progress(f"{task.cell.label} on {task.cell.backend} @ {member.name}")

    def _finish(self, member: _Member) -> None:
        task, ref = member.task, member.ref
        member.task, member.ref = None, None
        try:
            result = self.ray.get(ref)
        except Exception as exc:
            if member.name not in alive_devices(self.ray):
                self._lose(
                    member, task, f"device {member.name} left the cluster ({first_line(exc, 120)})"
                )
                self._gone(member, f"device {member.name} left the cluster")
            else:
                cause = getattr(exc, "cause", None) or exc
                self._record(task, {"status": "failed", "error": first_line(cause, 300)})
            return
        if result["accuracy"] is not None:
            self.results[(task.group, task.column.label)] = result
        task.cell.ran_on = result["device"]
        self._record(
            task,
            result["cells"].get(task.cell.batch) or {"status": "failed", "error": "not measured"},
        )

    def _check_members(self, elapsed: float) -> None:
        alive = alive_devices(self.ray)
        for member in self.members:
            if member.gone is not None:
                continue
            if member.name in alive:
                member.seen = True
            elif member.seen:
                self._gone(
                    member, f"device {member.name} left the cluster (its node died or disconnected)"
                )
            elif elapsed > self.fleet.device_timeout_s:
                self._gone(
                    member,
                    f"no node serves device {member.name} "
                    f"(waited {self.fleet.device_timeout_s:g} s)",
                )

    def _gone(self, member: _Member, reason: str) -> None:
        """Stop using ``member``: its running cell is lost, and its column's queue fails
        when no member is left."""
        member.gone = reason
        if member.task is not None:
            task, ref = member.task, member.ref
            member.task, member.ref = None, None
            self._cancel(ref)
            self._lose(member, task, reason)
        column = member.column
        if all(m.gone for m in self.members if m.column is column):
            queue = self.queues[column.label]
            while queue:
                self._record(queue.popleft(), {"status": "failed", "error": reason})

    def _lose(self, member: _Member, task: _Task, reason: str) -> None:
        """A cell whose device went away: another pool member takes it, or it fails."""
        others = [
            m for m in self.members if m.column is task.column and not m.gone and m is not member
        ]
        if task.column.retry and any(m.name not in task.tried for m in others):
            self.queues[task.column.label].appendleft(task)
        else:
            self._record(task, {"status": "failed", "error": reason})

    def _record(self, task: _Task, record: dict[str, Any]) -> None:
        fill_cell(task.cell, record)
        self.run_record.cells.append(task.cell)
        self.done += 1
        self._save()
        if self.on_cell:
            self.on_cell(task.cell, self.done, len(self.tasks))

    def _cancel(self, ref: Any) -> None:
        with contextlib.suppress(Exception):  # already finished, or its node is gone
            self.ray.cancel(ref, force=True)

    def _cancel_all(self) -> None:
        for member in self.members:
            if member.ref is not None:
                self._cancel(member.ref)

    def _ordered(self) -> list[Cell]:
        recorded = {id(c) for c in self.run_record.cells}
        return [t.cell for t in self.tasks if id(t.cell) in recorded]

    def _scored(self) -> list[Cell]:
        """Cells in suite order, accuracy shared within each group, scored per device column."""
        cells = self._ordered()
        for task in self.tasks:
            group = self.results.get((task.group, task.column.label)) or {}
            if task.cell.status == "ok" and not task.cell.accuracy and group.get("accuracy"):
                task.cell.accuracy = dict(group["accuracy"])
        for label in self.queues:
            column_cells = [c for c in cells if c.device_name == label]
            logits = {
                (self.groups[g][1].item, self.groups[g][2]): r["logits"]
                for (g, col), r in self.results.items()
                if col == label and r.get("logits") is not None
            }
            score_against_reference(column_cells, logits, self.config.alpha)
        return cells

    def _save(self) -> None:
        if self.checkpoint is not None and self.run_record is not None:
            partial = replace(self.run_record, cells=self._scored(), complete=False)
            partial.write_json(self.checkpoint)

    def _final(self) -> BenchRun:
        run = replace(self.run_record, cells=self._scored(), complete=True)
        if self.checkpoint is not None:
            run.write_json(self.checkpoint)
        return run
