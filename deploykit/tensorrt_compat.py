"""TensorRT knowledge shared by the engine exporter and the engine runner.

TensorRT engines are bound to the GPU (compute capability) and the exact
TensorRT version that built them. The exporter records that in the manifest's
``device`` block; the runner compares it with the device at hand and refuses a
mismatch with a message to rebuild, instead of failing inside TensorRT.

TensorRT 11 removed weak typing (the FP16/INT8 builder flags) and the
implicit-quantization calibrators: networks are strongly typed, FP16 comes from
an FP16 ONNX graph and INT8 from Q/DQ nodes. TensorRT 10 still has both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploykit.errors import InputError
from deploykit.optional import require

# Recorded device facts that must match for an engine to load.
BINDING_KEYS = ("gpu", "compute_capability", "tensorrt")


def tensorrt():
    """The ``tensorrt`` module, or a one-line error saying how to install it."""
    return require("tensorrt")


def gpu_ready() -> bool:
    """Whether TensorRT is installed and a CUDA GPU is visible (what the ``gpu`` tests need)."""
    from deploykit.optional import available

    if not available("tensorrt"):
        return False
    import torch

    return torch.cuda.is_available()


def version_tuple(version: str) -> tuple[int, ...]:
    """``"10.3.0.26"`` -> ``(10, 3, 0, 26)``."""
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def major(version: str) -> int:
    """The major version of a TensorRT version string."""
    return version_tuple(version)[0]


def strongly_typed_only(version: str) -> bool:
    """Whether this TensorRT has only strongly typed networks (11 and later)."""
    return major(version) >= 11


def has_legacy_calibrator(version: str) -> bool:
    """Whether ``IInt8EntropyCalibrator2`` exists (TensorRT 10 and older; JetPack 6)."""
    return major(version) <= 10


def network_flags(trt: Any, strongly_typed: bool) -> int:
    """``create_network`` flags; strong typing is requested by a flag where it is optional."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return (1 << int(flag)) if strongly_typed and flag is not None else 0


def device_record(device: int = 0) -> dict[str, Any]:
    """The GPU and toolkit an engine is built or run on.

    Raises:
        MissingBackendError: without TensorRT.
        InputError: without a CUDA GPU.
    """
    trt = tensorrt()
    import torch

    if not torch.cuda.is_available():
        raise InputError(
            "TensorRT needs an NVIDIA GPU and none is visible", "run on a CUDA machine"
        )
    props = torch.cuda.get_device_properties(device)
    return {
        "gpu": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "tensorrt": trt.__version__,
        "cuda": torch.version.cuda,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "device_index": device,
    }


def engine_mismatches(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How the device an engine was built on differs from ``current`` (empty: compatible)."""
    problems = []
    for key in BINDING_KEYS:
        if key in recorded and str(recorded[key]) != str(current.get(key)):
            problems.append(f"{key} {recorded[key]} (here: {current.get(key)})")
    return problems


def check_engine(path: Path, current: dict[str, Any]) -> None:
    """Refuse an engine whose manifest says it was built for another GPU or TensorRT.

    Args:
        path: the ``.engine`` file; its manifest is read from beside it.
        current: :func:`device_record` of the device about to run it.

    Raises:
        InputError: on a mismatch, naming what differs and how to rebuild.
    """
    from deploykit.manifest import read_manifest

    manifest = read_manifest(Path(path))
    if manifest is None or not manifest.device:
        return
    problems = engine_mismatches(manifest.device, current)
    if problems:
        ref = manifest.source.get("ref") or manifest.source.get("name") or "MODEL"
        raise InputError(
            f"engine {Path(path).name} was built for {'; '.join(problems)}; "
            "TensorRT engines only run on the GPU and TensorRT version that built them",
            f"rebuild it here: deploykit export {ref} --to trt --precision {manifest.precision}",
        )
