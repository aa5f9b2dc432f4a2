"""ONNX Runtime runner: CPU, CUDA or TensorRT execution providers."""

from __future__ import annotations

import numpy as np

from deploykit.errors import MissingBackendError
from deploykit.runners.base import Runner
from deploykit.targets import get_backend


class OrtRunner(Runner):
    """Runs an ONNX file in an ``InferenceSession``; the providers follow the backend name."""

    backend = "onnxruntime"

    def _open_impl(self) -> None:
        import onnxruntime as ort

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
        provider_options = self.options.extra.get("provider_options")
        if provider_options is None and self.backend == "ort-trt":
            # TensorRT 10 needs the INT8 flag to honour Q/DQ nodes; FP16 lets it pick half kernels.
            precision = self.options.precision
            trt = {"trt_int8_enable": precision == "int8", "trt_fp16_enable": precision == "fp16"}
            provider_options = [trt, {}, {}]
        self._session = ort.InferenceSession(
            str(self.model), so, providers=wanted, provider_options=provider_options
        )
        self._input = self._session.get_inputs()[0].name
        fixed = self._session.get_inputs()[0].shape[0]
        self.max_batch = fixed if isinstance(fixed, int) and fixed > 0 else None
        self.details = {
            "onnxruntime": ort.__version__,
            "providers": self._session.get_providers(),
        }
        if self.backend == "onnxruntime":
            from deploykit.runners.cpu import cpu_isa, saturation_warning

            if warning := saturation_warning(self.model, cpu_isa()):
                self.details["warnings"] = [warning]

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: batch})[0]

    def _close_impl(self) -> None:
        self._session = None
