"""The options of the capability table: export targets' ``--option`` and backends' ``--runner-option``.

Declared here, attached to their targets and backends in :mod:`deploykit.targets`, checked
like every other option (:mod:`deploykit.options`), and listed in ``--help`` and the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploykit.errors import InputError
from deploykit.options import Opt


@dataclass(frozen=True)
class TargetOption:
    """One ``KEY=VALUE`` option a target (``--option``) or backend (``--runner-option``) takes.

    Attributes:
        key: the option name.
        default: its value when not given (None: unset).
        opt: help, choices and range, checked like every other option.
    """

    key: str
    default: Any
    opt: Opt


def declare(key: str, default: Any, help: str, **settings: Any) -> TargetOption:
    """A :class:`TargetOption` (``settings`` are :class:`Opt` attributes)."""
    return TargetOption(key, default, Opt(help, **settings))


def find_option(options: tuple[TargetOption, ...], key: str, owner: str) -> TargetOption:
    """The option ``key`` of ``owner``'s ``options``.

    Raises:
        InputError: naming ``owner``'s options when it has no such key.
    """
    for item in options:
        if item.key == key:
            return item
    known = ", ".join(o.key for o in options) or "none"
    raise InputError(f"{owner} has no option {key!r}", f"its options: {known}")


# ------------------------------------------------------------------ export targets

INT8_ONNX = (
    declare(
        "activations",
        "int8",
        "Activation type of the Q/DQ graph (uint8 for CPU runtimes only).",
        choices=("int8", "uint8"),
    ),
    declare(
        "weights",
        "int8",
        "Weight type: int7 avoids u8*s8 saturation on x86 CPUs without VNNI.",
        choices=("int8", "int7"),
    ),
    declare(
        "placement",
        "ort",
        "Q/DQ placement: ort (every quantizable op's inputs and outputs) or trt "
        "(TensorRT's rules as NVIDIA Model Optimizer applies them).",
        choices=("ort", "trt"),
    ),
)
TFLITE = (
    declare(
        "io", "float", "Input/output dtype of a full-integer model.", choices=("float", "int8")
    ),
)
TRT = (
    declare("workspace", 4096, "Builder workspace.", min=1, unit="MiB"),
    declare("min_batch", 1, "Smallest batch of the optimisation profile.", min=1),
    declare("opt_batch", 1, "Batch the engine is tuned for.", min=1),
    declare("max_batch", 32, "Largest batch of the optimisation profile.", min=1),
    declare("timing_cache", None, "Timing cache file, read and updated."),
    declare("dla_core", None, "Jetson DLA core to build for.", min=0),
    declare(
        "calibrator",
        None,
        "legacy: IInt8EntropyCalibrator2 (TensorRT <= 10).",
        choices=("qdq", "legacy"),
    ),
    declare("calib_cache", None, "Calibration cache file for the legacy calibrator."),
)
OPENVINO = (
    declare(
        "quantizer",
        "nncf",
        "INT8 from nncf.quantize on the FP32 IR (nncf, measured faster) or our Q/DQ ONNX (qdq).",
        choices=("nncf", "qdq"),
    ),
    declare(
        "bias_correction",
        "full",
        "NNCF bias correction: full (per-layer, slower, fidelity steady across trainings) "
        "or fast (NNCF's default; cosine fell to 0.96 on 3 of 24 digits trainings).",
        choices=("full", "fast"),
    ),
    *INT8_ONNX,
)

# ------------------------------------------------------------------ backends (runners)

REENCODE_MODES = ("fast", "exact", "nonnegative")


def _reencode(default: str) -> TargetOption:
    return declare(
        "reencode",
        default,
        "Load-time uint8 re-encoding of an INT8 Q/DQ file's activations on x86: fast (every "
        "pair; exact below 127.5 steps), nonnegative (ReLU outputs only), exact "
        "(bit-identical, zero point 128), false (the file as written).",
        choices=(*REENCODE_MODES, "true", "false"),
    )


_GPU = declare("device", 0, "CUDA device index.", min=0)
ORT_CPU = (_reencode("fast"),)
ORT_GPU = (
    _GPU,
    declare("provider_options", None, "Per-provider options (a list of mappings; suites only)."),
)
OPENVINO_RUNNER = (
    _reencode("nonnegative"),
    declare(
        "inference_precision",
        None,
        "Precision of layers left in float (default: f32 for FP32 files, OpenVINO's own for "
        "others: bf16 on BF16/AMX CPUs).",
        choices=("f32", "bf16", "f16", "auto"),
    ),
    declare(
        "hint",
        "LATENCY",
        "OpenVINO performance hint.",
        choices=("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"),
    ),
)
LITERT = (
    declare(
        "delegate", None, "LiteRT delegate (also --delegate).", choices=("gpu", "xnnpack", "cpu")
    ),
    declare("delegate_path", None, "GPU delegate library file (also --delegate-path)."),
)
TENSORRT = (_GPU, declare("cuda_graph", False, "Replay each batch as a captured CUDA graph."))
