"""The driver's side of a fleet sweep: groups queued per device column, one Ray task each.

Each device column gets, for every (item, backend), one group of cells: all its
batch sizes, measured by one Ray task in one isolation worker, as a local run
does (a pool with more members than groups splits each group into shards of
interleaved batch sizes, so every member has work). The driver hands a shard to a member device only when that
device is idle, pinned by its ``device:NAME`` resource (whose whole amount the
task requests), so latency runs never overlap on a device. Each cell is written
to the checkpoint as the device reports it (``complete: false`` until the end).

Faults: a device whose node dies, or that stops answering (no cell and no
heartbeat for ``reply_timeout_s``), loses its running shard's remaining cells
(moved to another pool member when allowed, else failed with the reason), and
its queued cells fail; a device nobody serves fails its cells after
``device_timeout_s``; a cluster call that does not return within
``reply_timeout_s`` fails every cell still to come and ends the sweep. Ctrl-C
cancels the remote tasks and keeps what was measured.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deploykit.bench.api import (
    base_cell,
    batches_for,
    fill_cell,
    group_plan,
    score_against_reference,
)
from deploykit.bench.results import BenchRun, Cell
from deploykit.errors import first_line
from deploykit.fleet.cluster import device_resource
from deploykit.fleet.columns import Column
from deploykit.fleet.deadline import ClusterTimeout, Deadline
from deploykit.fleet.inventory import alive_devices
from deploykit.fleet.mailbox import HEAD_RESOURCE, Mailbox
from deploykit.fleet.payloads import ship
from deploykit.fleet.remote import TASK_OPTIONS, run_group

POLL_S = 0.5
CHECK_S = 1.0  # how often the node table is read
CLEANUP_S = 5.0  # cancelling and killing at the end waits no longer than this


@dataclass
class Shard:
    """Batch sizes of one group for one device column, measured by one Ray task."""

    group: int
    column: Column
    cells: dict[int, Cell]
    todo: list[int]
    accuracy: bool
    tried: list[str] = field(default_factory=list)


@dataclass
class _Member:
    """One device serving a column, as the driver sees it."""

    name: str
    column: Column
    shard: Shard | None = None
    ref: Any = None
    token: int = 0
    beats: int = 0
    heard: float = 0.0
    seen: bool = False
    gone: str | None = None


def shards(index: int, column: Column, cells: dict[int, Cell], groups: int) -> list[Shard]:
    """A group's cells for ``column``, in as few shards as keep every member busy.

    Each shard opens the runner once, so a group is split only when the column has more
    members than groups: into ``ceil(members / groups)`` shards of interleaved batch sizes
    (so each costs about the same); the first also scores accuracy.

    Args:
        index: the group's index in the sweep.
        column: the device column.
        cells: the group's cells for this column, by batch size.
        groups: how many groups the column has in all.
    """
    batches = list(cells)
    count = max(1, min(-(-len(column.members) // max(groups, 1)), len(batches)))
    return [
        Shard(index, column, {b: cells[b] for b in batches[k::count]}, batches[k::count], k == 0)
        for k in range(count)
    ]


class Sweep:
    """The driver's state for one fleet sweep.

    Args:
        ray: the connected ``ray`` module.
        config: what and how to measure.
        fleet: the cluster settings (timeouts, retry).
        groups: (item, subject, backend) in run order.
        columns: the device columns.
        checkpoint: results JSON rewritten after every cell (None: none).
        on_cell: called with (cell, cells done, cells in all) as each cell is recorded.
        progress: called with a short description as each shard starts.
    """

    def __init__(self, ray, config, fleet, groups, columns, checkpoint, on_cell, progress) -> None:
        self.ray, self.config, self.fleet, self.groups = ray, config, fleet, groups
        self.checkpoint, self.on_cell, self.progress = checkpoint, on_cell, progress
        self.call = Deadline(fleet.reply_timeout_s)
        self.remote = ray.remote(**TASK_OPTIONS)(run_group)
        self.order: list[tuple[Cell, int, str]] = []  # every cell in suite order
        self.queues: dict[str, deque[Shard]] = {c.label: deque() for c in columns}
        self.notes: list[str] = []  # e.g. a static-batch artifact measured at its batch only
        plans = [batches_for(subject, config, self.notes) for _, subject, _ in groups]
        self.eval_batches = [eval_batch for _, eval_batch in plans]
        for column in columns:
            for index, (item, subject, backend) in enumerate(groups):
                cells = {}
                for batch in plans[index][0]:
                    cell = replace(base_cell(subject, backend, batch), device_name=column.label)
                    if item.engine is not None:  # built on the device from this ONNX graph
                        cell.fmt, cell.precision = "engine", item.engine["precision"]
                        cell.label, cell.size_bytes = f"{Path(item.ref).stem}.engine", None
                    cells[batch] = cell
                    self.order.append((cell, index, column.label))
                self.queues[column.label].extend(shards(index, column, cells, len(groups)))
        self.members = [_Member(name, c) for c in columns for name in c.members]
        self.done, self.token, self.cursor = 0, 0, 0
        self.results: dict[tuple[int, str], dict[str, Any]] = {}
        self.run_record: BenchRun | None = None
        self.mailbox: Any = None
        self.payloads: list[dict[str, Any]] = []

    def run(self, data: Any) -> BenchRun:
        """Ship the files and inputs, run every shard, and return the finished results.

        Args:
            data: the evaluation dataset (``images``, ``labels``).
        """
        try:
            self.mailbox = self.call(self._new_mailbox, what="starting the mailbox actor")
            self.payloads = ship(self.ray, self.call, self.groups, data, self.config)
            self._loop()
        except ClusterTimeout as exc:  # the cluster stopped answering: what is left fails
            self._abandon(exc.message)
        except BaseException:
            self._cleanup()
            self._save()
            raise
        self._cleanup()
        return self._final()

    def _new_mailbox(self) -> Any:
        options = {"num_cpus": 0, "resources": HEAD_RESOURCE, "max_restarts": 0}
        return self.ray.remote(Mailbox).options(**options).remote()

    def _loop(self) -> None:
        started = last_check = time.monotonic()
        while any(self.queues.values()) or any(m.shard for m in self.members):
            self._dispatch()
            busy = {m.ref: m for m in self.members if m.shard is not None}
            ready = []
            if busy:
                ready, _ = self.call(
                    self.ray.wait, list(busy), num_returns=1, timeout=POLL_S, what="ray.wait"
                )
            else:
                time.sleep(POLL_S)
            self._take()
            for ref in ready:
                self._finish(busy[ref])
            if time.monotonic() - last_check >= CHECK_S:
                last_check = time.monotonic()
                self._check_members(last_check - started)

    def _dispatch(self) -> None:
        for member in self.members:
            queue = self.queues[member.column.label]
            if member.shard is None and member.gone is None and queue:
                self._submit(member, queue.popleft())

    def _submit(self, member: _Member, shard: Shard) -> None:
        shard.tried.append(member.name)
        payload = self.payloads[shard.group]
        batches, eval_batch = tuple(shard.todo), self.eval_batches[shard.group]
        plan = group_plan(self.config, payload["backend"], batches, eval_batch)
        self.token += 1
        spec = {
            **{k: payload[k] for k in ("item", "source", "artifact", "weights", "engine", "calib")},
            "plan": {**plan.to_dict(), "accuracy": shard.accuracy},
            "timeout_s": self.config.timeout_s,
            "device": member.name,
            "token": self.token,
            "allow_modified": self.config.allow_modified,
        }
        member.shard, member.token, member.beats = shard, self.token, 0
        member.heard = time.monotonic()
        task = self.remote.options(resources={device_resource(member.name): 1})
        member.ref = self.call(
            task.remote,
            spec,
            *(payload[k] for k in ("artifact_ref", "weights_ref", "calib_ref", "data_ref")),
            self.mailbox,
            what="submitting a task",
        )
        if self.progress:
            label, backend = next(iter(shard.cells.values())).label, payload["backend"]
            self.progress(f"{label} on {backend} @ {member.name}")

    def _take(self) -> None:
        """Record the cells the running groups reported, and note who is still beating."""
        events, beats = self.call(
            lambda: self.ray.get(self.mailbox.take.remote(self.cursor)), what="reading the mailbox"
        )
        self.cursor += len(events)
        running = {m.token: m for m in self.members if m.shard is not None}
        now = time.monotonic()
        for token, event in events:
            if token in running:
                running[token].heard = now
                member = running[token]
                self._record(member.shard, event["batch"], event["record"], member.name)
        for token, member in running.items():
            if beats.get(token, 0) != member.beats:
                member.beats, member.heard = beats[token], now

    def _finish(self, member: _Member) -> None:
        shard = member.shard
        try:
            result = self.call(self.ray.get, member.ref, what="ray.get of a result")
        except ClusterTimeout:
            raise
        except Exception as exc:
            if member.name not in self.call(alive_devices, self.ray, what="ray.nodes"):
                self._gone(member, f"device {member.name} left the cluster", first_line(exc, 120))
            else:
                member.shard, member.ref = None, None
                self._fail(shard, first_line(getattr(exc, "cause", None) or exc, 300))
            return
        member.shard, member.ref = None, None
        if result["accuracy"] is not None:
            self.results[(shard.group, shard.column.label)] = result
        if result.get("modified"):
            found = self.run_record.config["modified_artifacts"]
            found.append({**result["modified"], "device": member.name})
        for batch in list(shard.todo):
            cell = result["cells"].get(batch) or {"status": "failed", "error": "not measured"}
            self._record(shard, batch, cell, member.name)

    def _check_members(self, elapsed: float) -> None:
        alive = self.call(alive_devices, self.ray, what="ray.nodes")
        timeout = self.fleet.reply_timeout_s
        for member in self.members:
            if member.gone is not None:
                continue
            if member.name in alive:
                member.seen = True
                if member.shard is not None and time.monotonic() - member.heard > timeout:
                    self._gone(member, f"device {member.name} stopped answering ({timeout:g} s)")
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

    def _gone(self, member: _Member, reason: str, detail: str | None = None) -> None:
        """Stop using ``member``: its running shard is lost (``detail``: what Ray said), and
        its column's queue fails when no member is left."""
        member.gone = reason
        if member.shard is not None:
            shard, ref = member.shard, member.ref
            member.shard, member.ref = None, None
            self._cancel([ref])
            self._lose(member, shard, f"{reason} ({detail})" if detail else reason)
        column = member.column
        if all(m.gone for m in self.members if m.column is column):
            queue = self.queues[column.label]
            while queue:
                self._fail(queue.popleft(), reason)

    def _lose(self, member: _Member, shard: Shard, reason: str) -> None:
        """A shard whose device went away: another pool member measures what is left of it,
        or it fails."""
        others = [
            m for m in self.members if m.column is shard.column and not m.gone and m is not member
        ]
        if shard.todo and shard.column.retry and any(m.name not in shard.tried for m in others):
            self.queues[shard.column.label].appendleft(shard)
        else:
            self._fail(shard, reason)

    def _fail(self, shard: Shard, reason: str) -> None:
        for batch in list(shard.todo):
            self._record(shard, batch, {"status": "failed", "error": reason}, None)

    def _record(self, shard: Shard, batch: int, record: dict[str, Any], ran_on: str | None) -> None:
        if batch not in shard.todo:
            return
        shard.todo.remove(batch)
        cell = fill_cell(shard.cells[batch], record)
        cell.ran_on = ran_on or cell.ran_on
        self.run_record.cells.append(cell)
        self.done += 1
        self._save()
        if self.on_cell:
            self.on_cell(cell, self.done, len(self.order))

    def _abandon(self, reason: str) -> None:
        """The cluster stopped answering: every cell not yet measured fails with ``reason``."""
        for member in self.members:
            if member.shard is not None:
                shard, member.shard = member.shard, None
                self._fail(shard, reason)
        for queue in self.queues.values():
            while queue:
                self._fail(queue.popleft(), reason)

    def _cancel(self, refs: list[Any]) -> None:
        def cancel() -> None:
            for ref in refs:
                with contextlib.suppress(Exception):  # finished already, or its node is gone
                    self.ray.cancel(ref, force=True)

        with contextlib.suppress(ClusterTimeout):
            Deadline(CLEANUP_S)(cancel, what="ray.cancel")

    def _cleanup(self) -> None:
        """Cancel what still runs and stop the mailbox, never waiting long on either."""
        self._cancel([m.ref for m in self.members if m.ref is not None])
        if self.mailbox is not None:
            with contextlib.suppress(Exception):
                Deadline(CLEANUP_S)(self.ray.kill, self.mailbox, what="ray.kill")

    def _scored(self) -> list[Cell]:
        """Cells in suite order, accuracy shared within each group, scored per device column."""
        recorded = {id(c) for c in self.run_record.cells}
        cells = [c for c, _, _ in self.order if id(c) in recorded]
        for cell, group, label in self.order:
            shared = (self.results.get((group, label)) or {}).get("accuracy")
            if cell.status == "ok" and not cell.accuracy and shared:
                cell.accuracy = dict(shared)
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
