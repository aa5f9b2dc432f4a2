"""The runner life cycle: open, infer (numpy NCHW in, numpy logits out), close.

Subclasses fill in ``_open_impl``, ``_infer_impl`` and ``_close_impl`` only.
Layout conversion, shape checks and batch splitting happen here, once, so every
backend is fed the same data.
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.errors import DeployKitError, InputError, ShapeError, first_line
from deploykit.spec import InputSpec
from deploykit.targets import get_backend


@dataclass(frozen=True)
class RunnerOptions:
    """Backend settings.

    Attributes:
        threads: intra-op threads (None: the backend's default).
        precision: the artifact's precision as recorded in its manifest.
        extra: backend-specific options, e.g. ``{"delegate": "gpu"}`` for LiteRT.
    """

    threads: int | None = None
    precision: str = "fp32"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunnerInfo:
    """What actually ran: recorded with every result."""

    backend: str
    device: str
    precision: str
    threads: int | None
    details: dict[str, Any] = field(default_factory=dict)


class Runner(ABC):
    """Base class of every backend runner.

    The timing contract: a runner that can tell device compute from end-to-end
    time sets ``last_compute_s`` after each inference, and one that knows the
    device memory it holds sets ``gpu_memory_mib``; runners that cannot leave
    them None, and the benchmark reports only what was measured.

    Args:
        model: what to run: a file path, or an in-memory model for torch/Keras.
        spec: the input spec; ``spec.layout`` is the layout the model wants.
        options: backend settings.
        backend: the capability-table name this runner was opened as.

    Attributes:
        last_compute_s: device compute time of the last inference in seconds, without
            host<->device copies (None: not measured by this runner).
        gpu_memory_mib: device memory this runner claimed, in MiB (None: not measured).
    """

    backend = "base"

    def __init__(
        self,
        model: Any,
        spec: InputSpec,
        options: RunnerOptions | None = None,
        backend: str | None = None,
    ) -> None:
        self.model = model
        self.spec = spec
        self.options = options or RunnerOptions()
        self.backend = backend or type(self).backend
        self.device = get_backend(self.backend).device
        self.details: dict[str, Any] = {}
        self.max_batch: int | None = None
        self.last_compute_s: float | None = None
        self.gpu_memory_mib: float | None = None
        self._is_open = False

    # -- life cycle -------------------------------------------------------------
    def open(self) -> Runner:
        """Load the model into the runtime.

        Raises:
            InputError: when the runtime refuses the artifact (one of
                :meth:`_runtime_errors`); any other exception is a bug and propagates.
            MissingBackendError: when the backend's package is not installed.
        """
        if self._is_open:
            return self
        try:
            self._open_impl()
        except DeployKitError:
            raise
        except self._runtime_errors() as exc:
            raise InputError(
                f"{self.backend} cannot open {self._name()} ({first_line(exc, 300)})",
                "check that the file is a complete artifact of a format this backend runs",
            ) from exc
        self._is_open = True
        return self

    def close(self) -> None:
        if self._is_open:
            self._close_impl()
            self._is_open = False

    def __enter__(self) -> Runner:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def info(self) -> RunnerInfo:
        return RunnerInfo(
            self.backend,
            self.device,
            self.options.precision,
            self.options.threads,
            dict(self.details),
        )

    # -- inference --------------------------------------------------------------
    def prepare_input(self, batch: np.ndarray) -> np.ndarray:
        """Check an NCHW float batch and convert it to the model's layout and dtype."""
        if not self._is_open:
            raise RuntimeError(f"{type(self).__name__} used before open()")
        expected = self.spec.nchw[1:]
        if batch.ndim != 4 or tuple(batch.shape[1:]) != tuple(expected):
            raise ShapeError(
                f"{self.backend} got input of shape {tuple(batch.shape)}, "
                f"the model takes N x {' x '.join(map(str, expected))} (NCHW)",
                "prepare the data with the model's input spec",
            )
        if self.spec.layout == "NHWC":
            batch = batch.transpose(0, 2, 3, 1)
        return np.ascontiguousarray(batch, dtype=np.float32)

    def run_prepared(self, batch: np.ndarray) -> np.ndarray:
        """Infer on a batch already passed through :meth:`prepare_input` (used for timing)."""
        return self._infer_impl(batch)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N x classes, float32) for an NCHW float32 batch."""
        x = self.prepare_input(batch)
        if self.max_batch and len(x) > self.max_batch:
            parts = [
                self._infer_impl(x[i : i + self.max_batch])
                for i in range(0, len(x), self.max_batch)
            ]
            return np.concatenate(parts).astype(np.float32, copy=False)
        return np.asarray(self._infer_impl(x), dtype=np.float32)

    # -- hooks ------------------------------------------------------------------
    @abstractmethod
    def _open_impl(self) -> None: ...

    @abstractmethod
    def _infer_impl(self, batch: np.ndarray) -> np.ndarray: ...

    def _close_impl(self) -> None:
        """Release resources; most backends only drop references."""

    def _runtime_errors(self) -> tuple[type[BaseException], ...]:
        """The exception types this backend's runtime raises when it refuses an artifact.

        Called only after the runtime was imported by :meth:`_open_impl`; the
        default (none) lets every exception propagate.
        """
        return ()

    def _name(self) -> str:
        """The artifact's file name, or the in-memory model's class name."""
        if isinstance(self.model, (str, os.PathLike)):
            return Path(self.model).name
        return type(self.model).__name__


def open_runner(
    backend: str, model: Any, spec: InputSpec, options: RunnerOptions | None = None
) -> Runner:
    """Build and open the runner for ``backend`` from the capability table.

    Raises:
        InputError: for an unknown backend, or an artifact the runtime refuses.
        MissingBackendError: when the backend's package is not installed.
    """
    entry = get_backend(backend)
    module = importlib.import_module(entry.module)
    return getattr(module, entry.cls)(model, spec, options, backend=backend).open()
