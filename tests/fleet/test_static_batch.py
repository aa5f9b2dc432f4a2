"""A static-batch artifact on the fleet: planned at its own batch only, as a local run does."""

from __future__ import annotations

import pytest

from deploykit.bench.api import plan_groups
from deploykit.bench.config import BenchConfig
from deploykit.fleet.columns import Column
from deploykit.fleet.request import FleetRequest
from deploykit.fleet.sweep import Sweep
from tests.security.hostile import save_small_program

ray = pytest.importorskip("ray", reason="needs the fleet extra")


def test_a_static_batch_artifact_is_planned_at_its_batch_on_every_device(tmp_path):
    program = save_small_program(tmp_path / "static.pt2", batch=1)
    config = BenchConfig(backends=("torch",), batch_sizes=(1, 4, 8), limit=16)
    _, groups, _ = plan_groups([str(program)], config)
    columns = [Column("dev-a", ("dev-a",)), Column("dev-b", ("dev-b",))]
    fleet = FleetRequest(cluster="ray://127.0.0.2:10001", devices=("dev-a", "dev-b"))
    sweep = Sweep(ray, config, fleet, groups, columns, None, None, None)  # no cluster needed
    assert [(cell.batch, column) for cell, _, column in sweep.order] == [
        (1, "dev-a"),
        (1, "dev-b"),
    ]
    assert sweep.eval_batches == [1]  # the accuracy pass runs at the artifact's batch too
    assert sweep.notes == ["static.pt2 has a static batch of 1: measured at batch 1 only"]
