"""TensorRT engines for a fleet: built on the device from the shipped ONNX, cached there.

An engine is bound to the GPU, TensorRT and CUDA it was built with, so the
driver never ships one: it ships the ONNX graph and the build request, and the
device builds the engine once per (source ONNX hash, device kind, library
versions, request). The next cell, sweep or agent restart on the same kind of
device finds it under ``CACHE/engines/KEY``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from deploykit.fileio import sha256_file

# What makes two devices interchangeable for an engine (device_record minus the index and size).
DEVICE_KIND_KEYS = ("gpu", "compute_capability", "tensorrt", "cuda")
ENGINE_LIBRARIES = ("tensorrt", "onnx", "deploykit")


def device_kind() -> dict[str, Any]:
    """The GPU and toolkit versions of this device (raises without TensorRT or a GPU)."""
    from deploykit import tensorrt_compat as compat

    record = compat.device_record()
    return {k: record.get(k) for k in DEVICE_KIND_KEYS}


def engine_key(source_sha256: str, request: dict[str, Any], kind: dict[str, Any]) -> str:
    """Cache key of an engine: source hash, build request, device kind, library versions.

    Args:
        source_sha256: hash of the ONNX graph the engine is built from.
        request: precision, options and calibration of the build.
        kind: :func:`device_kind` of the device building it.
    """
    from deploykit.manifest import library_versions

    libraries = library_versions()
    payload = {
        "source": source_sha256,
        "request": request,
        "device": kind,
        "libraries": {k: v for k, v in libraries.items() if k in ENGINE_LIBRARIES},
        "deploykit": _deploykit_version(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _deploykit_version() -> str:
    from deploykit import __version__

    return __version__


def engine_for(onnx_path: Path, request: dict[str, Any], root: Path) -> Path:
    """The engine for ``onnx_path`` on this device: from the cache, else built and cached.

    Args:
        onnx_path: the shipped ONNX graph (its manifest beside it).
        request: ``precision`` (fp32, fp16, int8), optional ``options`` (TensorRT builder
            options, see :mod:`deploykit.export.tensorrt`) and ``calib`` (a calibration
            ``.npz`` already on the device, for INT8).
        root: the device's cache folder.

    Raises:
        MissingBackendError: without TensorRT; InputError: without a GPU or on a bad request.
    """
    from deploykit.bench.suite import cached_artifact
    from deploykit.export import ExportRequest, export_model
    from deploykit.targets import TARGETS

    kind = device_kind()
    key = engine_key(sha256_file(onnx_path), request, kind)
    folder = root / "engines" / f"{Path(onnx_path).stem}-{request['precision']}-{key}"
    suffix = TARGETS["trt"].suffix
    cached = cached_artifact(folder, suffix)
    if cached is not None:
        return cached
    export = ExportRequest(
        target="trt",
        precision=request["precision"],
        out_dir=folder,
        calib=Path(request["calib"]) if request.get("calib") else None,
        calib_method=request.get("calib_method", "minmax"),
        options=dict(request.get("options") or {}),
    )
    return export_model(str(onnx_path), export).artifact
