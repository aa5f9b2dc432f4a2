"""What runs on a device for one cell: fetch the artifact, build an engine if asked, measure.

:func:`run_cell` is the body of the Ray task the scheduler pins to a device. Ray
starts it in a fresh worker process (``max_calls=1``); inside, the local bench's
crash isolation (:func:`deploykit.bench.isolation.run_group_isolated`) measures
the cell in its own worker, so a runtime that segfaults or hangs costs this cell
and nothing else on the device.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

TASK_OPTIONS = {"num_cpus": 0, "max_calls": 1, "max_retries": 0}


def run_cell(
    task: dict[str, Any],
    artifact: bytes | None,
    weights: bytes | None,
    calib: bytes | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """Measure one cell on this device.

    Args:
        task: ``item`` (reference for the device), ``source`` (SourceOptions as JSON),
            ``plan`` (a GroupPlan dict with one batch size), ``timeout_s`` (no-progress
            limit of the worker), ``device`` (the name this device serves), and, when
            files travel, ``artifact`` / ``weights`` (:class:`~deploykit.fleet.transfer.Packed`
            dicts) and ``engine`` (a TensorRT build request, see :mod:`deploykit.fleet.engines`).
        artifact: the artifact's bytes, when ``task["artifact"]`` is set.
        weights: the weights file's bytes, when ``task["weights"]`` is set.
        calib: the calibration set's bytes, when ``task["calib"]`` is set (INT8 engines).
        data: ``x`` (prepared input, NCHW float32) and ``labels``.

    Returns:
        ``cells`` (batch -> cell record), ``accuracy``, ``runner``, ``logits``,
        ``device`` and ``task_s`` (seconds spent in this task).
    """
    import numpy as np

    from deploykit.bench.cells import GroupPlan
    from deploykit.bench.isolation import run_group_isolated
    from deploykit.fleet.transfer import cache_root, unpack

    began = time.perf_counter()
    root = cache_root()
    item, source = task["item"], dict(task["source"])
    if task.get("artifact"):
        item = str(unpack(task["artifact"], artifact, root))
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
            job, plan, Path(tmp) / "work", task["timeout_s"], lambda _b, _r: None
        )
    return {
        "cells": outcome.cells,
        "accuracy": outcome.accuracy,
        "runner": outcome.runner,
        "logits": outcome.logits,
        "device": task["device"],
        "task_s": round(time.perf_counter() - began, 3),
    }
