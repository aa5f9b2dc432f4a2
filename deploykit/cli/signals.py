"""SIGTERM handled like Ctrl-C, and the leftovers of killed runs removed at start."""

from __future__ import annotations

import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

from deploykit.fileio import remove_stale_temporaries


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM.

    A KeyboardInterrupt subclass, so every cleanup that runs on Ctrl-C (temporary
    files, bench worker process groups) runs on SIGTERM too.
    """


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


def install() -> Any:
    """Route SIGTERM to :class:`Terminated`; clean the system temp folder of dead runs.

    Returns:
        the previous SIGTERM handler, for :func:`restore` (None off the main thread).
    """
    remove_stale_temporaries(Path(tempfile.gettempdir()))
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def restore(previous: Any) -> None:
    """Put back the SIGTERM handler :func:`install` replaced."""
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
