"""OpenVINO runner: reads our FP32, FP16 and Q/DQ ONNX files directly, on the CPU.

OpenVINO executes a Q/DQ model's quantized layers in INT8, so the one
calibrated artifact serves ONNX Runtime, OpenVINO and TensorRT alike.

Precision honesty: on CPUs with BF16 (AVX-512 BF16, AMX) OpenVINO runs FP32
layers in BF16 unless told otherwise. For FP32 artifacts this runner asks for
``f32`` by default, so accuracy measured is the FP32 model's; for FP16 and INT8
artifacts it keeps OpenVINO's own choice. ``RunnerOptions.extra``:
``inference_precision`` (``f32``, ``bf16``, ``f16`` or ``auto``) overrides
that, ``hint`` (``LATENCY``/``THROUGHPUT``) the performance hint, ``reencode``
the load-time re-encoding of an INT8 Q/DQ file's non-negative activations
(:mod:`deploykit.runners.qdq`; default ``nonnegative``, ``false`` reads the file
as written). INT8 Q/DQ files are also rewritten around two OpenVINO CPU bugs
(:mod:`deploykit.runners.openvino_quirks`). What ran is
recorded: the precision hint in effect, the precisions of the executed
layers, the CPU's ISA.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deploykit.errors import InputError
from deploykit.host import cpu_isa
from deploykit.optional import require
from deploykit.runners.base import Runner
from deploykit.runners.cpu import saturation_warning
from deploykit.runners.openvino_quirks import ir_warning, patched_model
from deploykit.runners.qdq import RUNNER_DEFAULTS, reencoded_model

PRECISIONS = ("f32", "bf16", "f16", "auto")


class OpenVinoRunner(Runner):
    """Compiles an ONNX file for OpenVINO's CPU plugin, one static shape per batch size."""

    backend = "openvino"

    def _open_impl(self) -> None:
        ov = require("openvino")
        extra = self.options.extra
        default = "f32" if self.options.precision == "fp32" else "auto"
        precision = str(extra.get("inference_precision", default))
        if precision not in PRECISIONS:
            raise InputError(
                f"unknown OpenVINO inference precision {precision!r}",
                f"use one of {', '.join(PRECISIONS)}",
            )
        self._core = ov.Core()
        capabilities = list(self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        if precision in ("bf16", "f16") and precision.upper() not in capabilities:
            raise InputError(
                f"this CPU cannot run OpenVINO in {precision} (it offers {', '.join(capabilities)})",
                "use inference_precision=f32 or auto",
            )
        # ReLU outputs re-encoded as uint8 zero point 0 (see runners.qdq).
        rewritten, reencode = reencoded_model(self.model, self.options, RUNNER_DEFAULTS["openvino"])
        # Rewrites around two OpenVINO CPU bugs with INT8 graphs (see runners.openvino_quirks).
        rewritten, workarounds = patched_model(self.model, rewritten, self.options)
        if rewritten is None:
            self._model = self._core.read_model(str(self.model))
        else:
            self._model = self._core.read_model(rewritten, b"")
        self._config: dict[str, Any] = {"PERFORMANCE_HINT": str(extra.get("hint", "LATENCY"))}
        if precision != "auto":
            self._config["INFERENCE_PRECISION_HINT"] = precision
        if self.options.threads:
            self._config["INFERENCE_NUM_THREADS"] = int(self.options.threads)
        self._compiled: dict[int, Any] = {}
        fixed = self._model.inputs[0].partial_shape[0]
        self.max_batch = None if fixed.is_dynamic else fixed.get_length()
        self._compile(self.max_batch or self.spec.shape[0])
        self.details = {
            "openvino": ov.__version__.split("-")[0],
            "device": self._core.get_property("CPU", "FULL_DEVICE_NAME"),
            "cpu_isa": cpu_isa(),
            "capabilities": capabilities,
            **self._executed(self._compiled[next(iter(self._compiled))]),
            **reencode,
            **workarounds,
        }
        warnings = [saturation_warning(self.model, self.details["cpu_isa"])]
        if self.options.precision == "int8":
            warnings.append(ir_warning(self._model))
        if any(warnings):
            self.details["warnings"] = [w for w in warnings if w]

    def _compile(self, batch: int) -> Any:
        """The compiled model for a batch size (static shapes run fastest on CPU)."""
        if batch not in self._compiled:
            model = self._model
            if self._model.inputs[0].partial_shape.is_dynamic:
                model = self._model.clone()
                shape = list(self._model.inputs[0].partial_shape.get_min_shape())
                model.reshape({model.inputs[0]: [batch, *shape[1:]]})
            compiled = self._core.compile_model(model, "CPU", self._config)
            self._compiled[batch] = (compiled, compiled.create_infer_request())
        return self._compiled[batch]

    @staticmethod
    def _executed(entry: tuple[Any, Any]) -> dict[str, Any]:
        """The precision hint in effect and how many executed layers ran in each precision."""
        compiled = entry[0]
        counts: dict[str, int] = {}
        for op in compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            if "runtimePrecision" in info:
                name = info["runtimePrecision"].astype(str)
                counts[name] = counts.get(name, 0) + 1
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        return {
            "inference_precision": str(getattr(hint, "get_type_name", lambda: hint)()),
            "executed_precisions": dict(sorted(counts.items())),
        }

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        _, request = self._compile(len(batch))
        return np.array(request.infer({0: batch})[0], dtype=np.float32, copy=True)

    def _close_impl(self) -> None:
        self._compiled.clear()
        self._model = None
        self._core = None

    def _runtime_errors(self) -> tuple[type[BaseException], ...]:
        # OpenVINO raises its C++ exceptions as RuntimeError; its frontends have their own.
        from openvino.frontend import GeneralFailure, OpConversionFailure, OpValidationFailure

        return (RuntimeError, GeneralFailure, OpConversionFailure, OpValidationFailure)
