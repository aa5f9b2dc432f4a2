"""Runners: one small protocol over every backend (torch, ONNX Runtime, OpenVINO, LiteRT, TensorRT).

``open_runner(backend, model, spec)`` builds the right :class:`Runner` from the
capability table; each backend module is imported only when used.
"""

from deploykit.runners.base import Runner, RunnerInfo, RunnerOptions, open_runner

__all__ = ["Runner", "RunnerInfo", "RunnerOptions", "open_runner"]
