"""ONNX Runtime runner: CPU, CUDA or TensorRT execution providers.

On the CUDA and TensorRT providers each call copies the input to the device,
runs on device-resident tensors through IO binding (ONNX Runtime synchronises
the device at the end of a run), then copies the logits back; the run alone is
``last_compute_s``, host-timed around a synchronised run without transfers.
``RunnerOptions.extra``: ``device`` (int) picks the GPU, ``provider_options``
replaces the per-provider options.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from deploykit.errors import MissingBackendError
from deploykit.runners.base import Runner
from deploykit.runners.qdq import RUNNER_DEFAULTS, reencoded_model
from deploykit.targets import get_backend

# What ONNX Runtime raises for a model it refuses (onnxruntime_pybind11_state).
_ORT_ERRORS = (
    "Fail",
    "InvalidArgument",
    "InvalidGraph",
    "InvalidProtobuf",
    "NoModel",
    "NoSuchFile",
    "NotImplemented",
    "RuntimeException",
    "EPFail",
)


class OrtRunner(Runner):
    """Runs an ONNX file in an ``InferenceSession``; the providers follow the backend name."""

    backend = "onnxruntime"

    def _open_impl(self) -> None:
        import onnxruntime as ort

        self._ort = ort
        wanted = list(get_backend(self.backend).providers)
        if wanted[0] not in ort.get_available_providers():
            raise MissingBackendError(
                f"ONNX Runtime here has no {wanted[0]} (it has {', '.join(ort.get_available_providers())})",
                'pip uninstall -y onnxruntime && pip install "deploykit[gpu]" on a CUDA machine',
            )
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        if self.options.threads:
            so.intra_op_num_threads = self.options.threads
            so.inter_op_num_threads = 1
        self._device_id = int(self.options.extra.get("device", 0))
        memory = None
        if self.device == "cuda":
            from deploykit.runners.cuda import DeviceMemory

            memory = DeviceMemory(self._device_id)
        # CPU only: symmetric int8 activations re-encoded as uint8 (see runners.qdq).
        model, reencode = (None, {})
        if self.backend == "onnxruntime":
            model, reencode = reencoded_model(
                self.model, self.options, RUNNER_DEFAULTS[self.backend]
            )
        self._session = ort.InferenceSession(
            model or str(self.model),
            so,
            providers=wanted,
            provider_options=self._provider_options(wanted),
        )
        if self._session.get_providers()[0] != wanted[0]:  # ONNX Runtime fell back silently
            raise MissingBackendError(
                f"ONNX Runtime could not start {wanted[0]} "
                f"(running on {', '.join(self._session.get_providers())})",
                "check the CUDA/cuDNN/TensorRT libraries ONNX Runtime needs on this machine",
            )
        self._memory = memory
        self._seen_batches: set[int] = set()
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        fixed = self._session.get_inputs()[0].shape[0]
        self.max_batch = fixed if isinstance(fixed, int) and fixed > 0 else None
        self.details = {
            "onnxruntime": ort.__version__,
            "providers": self._session.get_providers(),
            **reencode,
        }
        if self.device == "cpu":
            from deploykit.host import cpu_isa
            from deploykit.runners.cpu import saturation_warning

            if warning := saturation_warning(self.model, cpu_isa()):
                self.details["warnings"] = [warning]

    def _provider_options(self, providers: list[str]) -> list[dict[str, Any]]:
        """Per-provider options: the user's, else the GPU and TensorRT's precision flags."""
        given = self.options.extra.get("provider_options")
        if given is not None:
            return given
        device = {"device_id": self._device_id}
        # TensorRT 10 needs the INT8 flag to honour Q/DQ nodes; FP16 lets it pick half kernels.
        precision = self.options.precision
        trt = {"trt_int8_enable": precision == "int8", "trt_fp16_enable": precision == "fp16"}
        settings = {
            "TensorrtExecutionProvider": {**device, **trt},
            "CUDAExecutionProvider": device,
        }
        return [settings.get(name, {}) for name in providers]

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        if self.device != "cuda":
            return self._session.run(None, {self._input: batch})[0]
        ort = self._ort
        binding = self._session.io_binding()
        binding.bind_ortvalue_input(
            self._input, ort.OrtValue.ortvalue_from_numpy(batch, "cuda", self._device_id)
        )
        binding.bind_output(self._output, "cuda", self._device_id)
        start = time.perf_counter()
        self._session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        self.last_compute_s = time.perf_counter() - start
        logits = binding.copy_outputs_to_cpu()[0]
        if len(batch) not in self._seen_batches:  # the memory arena grows on new shapes only
            self._seen_batches.add(len(batch))
            self.gpu_memory_mib = self._memory.claimed_mib()
        return logits

    def _close_impl(self) -> None:
        self._session = None

    def _runtime_errors(self) -> tuple[type[BaseException], ...]:
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        return tuple(getattr(state, name) for name in _ORT_ERRORS if hasattr(state, name))
