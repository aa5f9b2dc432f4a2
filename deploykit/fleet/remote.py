"""What runs on a device for one group: fetch and check the artifact, build an engine if asked,
measure every batch size.

:func:`run_group` is the body of the Ray task the scheduler pins to a device. Ray
starts it in a fresh worker process (``max_calls=1``); inside, the local bench's
crash isolation (:func:`deploykit.bench.isolation.run_group_isolated`) opens the
runner once in its own worker for all the group's batch sizes, as a local run
does: a runtime that segfaults or hangs costs the cell it was timing, and a fresh
worker measures the batch sizes still to do. Each cell is reported to the
driver's mailbox as it finishes (:mod:`deploykit.fleet.mailbox`).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

TASK_OPTIONS = {"num_cpus": 0, "max_calls": 1, "max_retries": 0}


def run_group(
    task: dict[str, Any],
    artifact: bytes | None,
    weights: bytes | None,
    calib: bytes | None,
    data: dict[str, Any],
    mailbox: Any,
) -> dict[str, Any]:
    """Measure one group (an item on a backend at some batch sizes) on this device.

    Args:
        task: ``item`` (reference for the device), ``source`` (SourceOptions as JSON),
            ``plan`` (a GroupPlan dict), ``timeout_s`` (no-progress limit of the worker),
            ``device`` (the name this device serves), ``token`` (this submission, for the
            mailbox), ``allow_modified`` (measure an artifact whose bytes differ from its
            manifest's sha256), and, when files travel, ``artifact`` / ``weights`` / ``calib``
            (:class:`~deploykit.fleet.transfer.Packed` dicts) and ``engine`` (a TensorRT
            build request, see :mod:`deploykit.fleet.engines`).
        artifact: the artifact's bytes, when ``task["artifact"]`` is set.
        weights: the weights file's bytes, when ``task["weights"]`` is set.
        calib: the calibration set's bytes, when ``task["calib"]`` is set (INT8 engines).
        data: ``x`` (prepared input, NCHW float32) and ``labels``.
        mailbox: the driver's :class:`~deploykit.fleet.mailbox.Mailbox` (None: no reports).

    Returns:
        ``cells`` (batch -> cell record), ``accuracy``, ``runner``, ``logits``,
        ``device``, ``modified`` (the sha256 mismatch allowed here, or None) and
        ``task_s`` (seconds spent in this task).

    Raises:
        InputError: bytes corrupted on the way, or changed since export without
            ``allow_modified``.
    """
    import numpy as np

    from deploykit.bench.api import check_artifacts
    from deploykit.bench.cells import GroupPlan
    from deploykit.bench.isolation import run_group_isolated
    from deploykit.fleet.mailbox import Reporter
    from deploykit.fleet.transfer import cache_root, unpack

    began = time.perf_counter()
    with Reporter(mailbox, task["token"]) as reporter:
        root = cache_root()
        item, source = task["item"], dict(task["source"])
        modified = None
        if task.get("artifact"):
            item = str(unpack(task["artifact"], artifact, root))
            # The bytes this device got against the sha256 their manifest recorded at export.
            found = check_artifacts([item], task["allow_modified"])
            modified = found[0] if found else None
        if task.get("weights"):
            source["weights"] = str(unpack(task["weights"], weights, root))
        if task.get("engine"):
            from deploykit.fleet.engines import engine_for

            request = dict(task["engine"])
            if task.get("calib"):
                request["calib"] = str(unpack(task["calib"], calib, root))
            item = str(engine_for(Path(item), request, root))
        with tempfile.TemporaryDirectory(prefix="deploykit-fleet-") as tmp:
            inputs = Path(tmp) / "input.npz"
            np.savez(inputs, x=data["x"], labels=data["labels"])
            job = {"item": item, "source": source, "data": str(inputs)}
            plan = GroupPlan.from_dict(task["plan"])
            outcome = run_group_isolated(
                job, plan, Path(tmp) / "work", task["timeout_s"], reporter.cell
            )
    return {
        "cells": outcome.cells,
        "accuracy": outcome.accuracy,
        "runner": outcome.runner,
        "logits": outcome.logits,
        "device": task["device"],
        "modified": modified,
        "task_s": round(time.perf_counter() - began, 3),
    }
