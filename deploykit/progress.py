"""One live progress display for a long verb: what it is doing, and a bar with time left.

A verb's library function takes two callbacks, ``say(text)`` for each stage and
``progress(step, total, loss)`` for counted work (training steps, benchmark
cells). :func:`live_steps` turns both into one Rich display: a spinner and the
stage while nothing is counted, then a bar with ``done/total``, the loss once
there is one, elapsed time and time left. Rich allows one live display per
console, so a verb uses this one display for all its stages.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Steps:
    """The callbacks a verb hands to the library.

    Attributes:
        bar: the Rich ``Progress`` behind them.
        task: its one task id.
        unit: what one step is (``steps``, ``cells``).
    """

    bar: Any
    task: Any
    unit: str = "steps"

    def say(self, text: str) -> None:
        """Start a stage: show ``text``; the bar restarts uncounted until the next step."""
        self.bar.reset(self.task, total=None, description=text, counts="")

    def progress(self, step: int, total: int | None, loss: float | None = None) -> None:
        """``step`` of ``total`` training steps done; ``loss`` shown when it is a number."""
        self.count(step, total, self.unit, loss)

    def cells(self, cell: Any, done: int, total: int) -> None:
        """``run_bench``'s ``on_cell`` callback: ``done`` of ``total`` benchmark cells."""
        self.count(done, total, "cells")

    def count(self, done: int, total: int | None, unit: str, loss: float | None = None) -> None:
        """``done`` of ``total`` ``unit`` so far (``loss`` shown when it is a number)."""
        counts = f"{done}/{total} {unit}" if total else f"{done} {unit}"
        if loss is not None and math.isfinite(loss):
            counts += f", loss {loss:.3f}"
        self.bar.update(self.task, completed=done, total=total, counts=counts)


@contextlib.contextmanager
def live_steps(console: Any, description: str, unit: str = "steps") -> Iterator[Steps]:
    """A transient progress display on ``console``, yielded as :class:`Steps`.

    Args:
        console: a Rich console (stderr, so stdout stays the result).
        description: the first stage's text.
        unit: what a step counts, shown after ``done/total``.
    """
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.fields[counts]}", markup=False),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=None, counts="")
        yield Steps(bar, task, unit)
