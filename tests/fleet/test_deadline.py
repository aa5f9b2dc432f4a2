"""Deadlines on blocking calls, and the shards a pool splits a group into."""

from __future__ import annotations

import threading
import time

import pytest

from deploykit.bench.results import Cell
from deploykit.errors import InputError
from deploykit.fleet.agent import AgentRequest, node_command, parse_port_range
from deploykit.fleet.columns import Column
from deploykit.fleet.deadline import ClusterTimeout, bounded
from deploykit.fleet.sweep import shards


def test_a_call_that_never_returns_fails_after_its_deadline():
    never = threading.Event()
    began = time.monotonic()
    with pytest.raises(ClusterTimeout, match=r"did not answer ray\.wait within 0\.3 s"):
        bounded(never.wait, timeout_s=0.3, what="ray.wait")
    assert time.monotonic() - began < 2
    assert bounded(sum, [1, 2], timeout_s=5, what="sum") == 3
    with pytest.raises(ZeroDivisionError):  # the call's own error, in the caller's thread
        bounded(divmod, 1, 0, timeout_s=5, what="divmod")


def test_a_pool_splits_a_group_only_when_members_outnumber_groups():
    cells = {b: Cell("m", "m.onnx", "onnx", "onnxruntime", b, "fp32", "cpu") for b in range(1, 6)}
    pool = Column("orin", ("orin-1", "orin-2", "orin-3"))
    split = shards(3, pool, cells, groups=2)  # 3 members, 2 groups: each group in 2 shards
    assert [s.todo for s in split] == [[1, 3, 5], [2, 4]]
    assert [s.accuracy for s in split] == [True, False]  # accuracy scored once per group
    assert all(s.group == 3 for s in split)
    assert [s.todo for s in shards(0, pool, cells, groups=3)] == [[1, 2, 3, 4, 5]]
    assert len(shards(0, pool, {1: cells[1]}, groups=1)) == 1  # never more shards than cells
    assert [s.todo for s in shards(0, Column("x86", ("x86",)), cells, groups=1)] == [
        [1, 2, 3, 4, 5]
    ]


def test_agent_pins_its_ports():
    request = AgentRequest(
        address="10.0.0.5:6379",
        device="orin-1",
        node_manager_port=20001,
        object_manager_port=20002,
        worker_ports=parse_port_range("20100-20199"),
    )
    command = node_command(request)
    for flag, value in [
        ("--node-manager-port", "20001"),
        ("--object-manager-port", "20002"),
        ("--min-worker-port", "20100"),
        ("--max-worker-port", "20199"),
    ]:
        assert command[command.index(flag) + 1] == value
    assert "--node-manager-port" not in node_command(AgentRequest("h:1", "d"))
    for bad in ("20100", "9-8", "0-10", "a-b", "1-70000"):
        with pytest.raises(InputError, match="not a port range"):
            parse_port_range(bad)
