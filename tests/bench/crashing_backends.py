"""Test-only backends that crash, abort or hang, loaded into bench workers as a plugin.

Loaded through ``DEPLOYKIT_BENCH_PLUGINS`` (never part of the production table):
each registers itself in ``deploykit.targets.BACKENDS`` inside the process that
imports it, so the real isolation code path is exercised end to end.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from deploykit.runners.onnxruntime import OrtRunner
from deploykit.targets import Backend, register_backend

CRASH_AT_BATCH = 8  # batch size at which the "crash-on-b8" backend segfaults


class _CpuOrt(OrtRunner):
    """ONNX Runtime on CPU under another backend name (OrtRunner picks providers by name)."""

    def _open_impl(self) -> None:
        name, self.backend = self.backend, "onnxruntime"
        try:
            super()._open_impl()
        finally:
            self.backend = name


class SegfaultRunner(_CpuOrt):
    """Opens like ONNX Runtime, then dies with SIGSEGV on its first inference."""

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        os.kill(os.getpid(), signal.SIGSEGV)
        raise AssertionError("unreachable")


class CrashOnBatchRunner(_CpuOrt):
    """Runs normally, but segfaults when asked for a batch of CRASH_AT_BATCH (timing only)."""

    def run_prepared(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == CRASH_AT_BATCH:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().run_prepared(batch)


class BuggyRunner(_CpuOrt):
    """Opens, then fails in its own Python code on inference, as a bug in deploykit would."""

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return {}["logits"]


class HangRunner(_CpuOrt):
    """Opens, then never returns from inference."""

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        while True:
            time.sleep(1)


for _name, _cls in (
    ("crash-segv", "SegfaultRunner"),
    ("crash-on-b8", "CrashOnBatchRunner"),
    ("hang", "HangRunner"),
    ("buggy", "BuggyRunner"),
):
    register_backend(Backend(_name, ("onnx",), __name__, _cls, providers=("CPUExecutionProvider",)))
