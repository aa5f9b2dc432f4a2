"""The capability table: export targets, precisions and the backends that run them.

Argument validation, the exporter dispatch, the benchmark and the tests all
read these tables instead of repeating lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploykit.errors import InputError

PRECISIONS = ("fp32", "fp16", "int8", "int8-dynamic")


@dataclass(frozen=True)
class Target:
    """An export format.

    Attributes:
        name: CLI name (``--to``).
        suffix: artifact file suffix.
        fmt: artifact format, the key runners are matched on.
        precisions: precisions this target can be exported at.
        module: module with ``export(loaded, request) -> Path``.
        gpu: whether building needs an NVIDIA GPU.
        extra: pip extra that provides the toolchain, if any.
    """

    name: str
    suffix: str
    fmt: str
    precisions: tuple[str, ...]
    module: str
    gpu: bool = False
    extra: str | None = None


@dataclass(frozen=True)
class Backend:
    """A runtime that executes artifacts of some formats.

    Attributes:
        name: CLI name (``--backend``).
        formats: artifact formats it runs.
        module, cls: where the Runner subclass lives.
        device: ``cpu`` or ``cuda``.
        extra: pip extra that provides it, if any.
    """

    name: str
    formats: tuple[str, ...]
    module: str
    cls: str
    device: str = "cpu"
    extra: str | None = None


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("onnx", ".onnx", "onnx", PRECISIONS, "deploykit.export.onnx"),
        Target(
            "tflite", ".tflite", "tflite", PRECISIONS, "deploykit.export.tflite", extra="tflite"
        ),
        Target(
            "trt",
            ".engine",
            "engine",
            ("fp32", "fp16", "int8"),
            "deploykit.export.tensorrt",
            gpu=True,
            extra="gpu",
        ),
    )
}

BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("torch", ("torch",), "deploykit.runners.torch", "TorchRunner"),
        Backend("torch-cuda", ("torch",), "deploykit.runners.torch", "TorchRunner", "cuda"),
        Backend("onnxruntime", ("onnx",), "deploykit.runners.onnxruntime", "OrtRunner"),
        Backend("ort-cuda", ("onnx",), "deploykit.runners.onnxruntime", "OrtRunner", "cuda", "gpu"),
        Backend("ort-trt", ("onnx",), "deploykit.runners.onnxruntime", "OrtRunner", "cuda", "gpu"),
        Backend(
            "openvino", ("onnx",), "deploykit.runners.openvino", "OpenVinoRunner", extra="openvino"
        ),
        Backend("litert", ("tflite",), "deploykit.runners.litert", "LiteRtRunner", extra="tflite"),
        Backend(
            "tensorrt", ("engine",), "deploykit.runners.tensorrt", "TensorRtRunner", "cuda", "gpu"
        ),
        Backend("keras", ("keras",), "deploykit.runners.keras", "KerasRunner", extra="tflite"),
    )
}

# The backend used for a format when the user names none.
DEFAULT_BACKEND = {
    "torch": "torch",
    "onnx": "onnxruntime",
    "tflite": "litert",
    "engine": "tensorrt",
    "keras": "keras",
}

_SUFFIX_FORMATS = {
    ".onnx": "onnx",
    ".tflite": "tflite",
    ".engine": "engine",
    ".plan": "engine",
    ".keras": "keras",
    ".h5": "keras",
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise InputError(f"unknown export target {name!r}", f"use one of {', '.join(TARGETS)}")
    return TARGETS[name]


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise InputError(f"unknown backend {name!r}", f"use one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def check_precision(target: Target, precision: str) -> str:
    if precision not in target.precisions:
        raise InputError(
            f"{target.name} cannot be exported at precision {precision!r}",
            f"use one of {', '.join(target.precisions)}",
        )
    return precision


def format_of(ref: str) -> str:
    """The artifact format of a model reference: a file suffix, else a torch model."""
    suffix = Path(ref).suffix.lower()
    if ref.startswith("keras:"):
        return "keras"
    return _SUFFIX_FORMATS.get(suffix, "torch")


def backends_for(fmt: str) -> list[str]:
    """Backends able to run format ``fmt``, in table order."""
    return [b.name for b in BACKENDS.values() if fmt in b.formats]
