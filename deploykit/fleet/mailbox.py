"""How a running group talks to the driver: a small actor on the head node.

A group runs every batch size of an (artifact, backend) on a device in one Ray
task; Ray Client has no streaming results, so the task reports each cell to a
:class:`Mailbox` actor on the head as it finishes, and beats a heartbeat every
``HEARTBEAT_S`` while it runs. The driver takes what arrived since it last
looked: cells are written as they finish, and a device that stops beating is
noticed without waiting for Ray to declare its node dead. The task's return
value still carries every cell, so a lost report costs nothing.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

HEARTBEAT_S = 2.0
SEND_TIMEOUT_S = 30.0
# Ray places an actor asking for a sliver of this resource on the head node.
HEAD_RESOURCE = {"node:__internal_head__": 0.001}


class Mailbox:
    """Runs on the head (as a Ray actor): what the running groups of one sweep reported."""

    def __init__(self) -> None:
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.beats: dict[int, int] = {}

    def put(self, token: int, event: dict[str, Any]) -> None:
        """Keep ``event`` (a finished cell) of the group submitted as ``token``."""
        self.events.append((token, event))

    def beat(self, token: int) -> None:
        """Count a heartbeat of group ``token``."""
        self.beats[token] = self.beats.get(token, 0) + 1

    def take(self, cursor: int) -> tuple[list[tuple[int, dict[str, Any]]], dict[int, int]]:
        """The events from index ``cursor`` on, and every group's heartbeat count."""
        return self.events[cursor:], dict(self.beats)


class Reporter:
    """The device side of a mailbox, for one group: its cells and a heartbeat thread.

    Args:
        mailbox: the :class:`Mailbox` actor handle (None: report nothing).
        token: the group's submission token.
    """

    def __init__(self, mailbox: Any, token: int) -> None:
        self.mailbox, self.token = mailbox, token
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="deploykit-heartbeat", daemon=True)

    def __enter__(self) -> Reporter:
        if self.mailbox is not None:
            self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(SEND_TIMEOUT_S)

    def cell(self, batch: int, record: dict[str, Any]) -> None:
        """Report a finished (or failed) cell."""
        if self.mailbox is not None:
            self._send(self.mailbox.put, self.token, {"batch": batch, "record": record})

    def _beat(self) -> None:
        while True:
            self._send(self.mailbox.beat, self.token)
            if self.stopped.wait(HEARTBEAT_S):
                return

    @staticmethod
    def _send(method: Any, *args: Any) -> None:
        import ray

        # The driver also gets every cell in the task's result: a lost report only delays it.
        with contextlib.suppress(Exception):
            ray.get(method.remote(*args), timeout=SEND_TIMEOUT_S)
