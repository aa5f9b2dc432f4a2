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


class SigtermGuard:
    """While active, SIGTERM raises :class:`Terminated`; ``received`` says whether it came.

    Typer turns any KeyboardInterrupt into exit code 130, so the CLI asks the guard
    afterwards to tell SIGTERM (143) from Ctrl-C. Entering it also removes what
    killed runs left in the system temporary folder.
    """

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = True
        raise Terminated

    def __enter__(self) -> SigtermGuard:
        remove_stale_temporaries(Path(tempfile.gettempdir()))
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
