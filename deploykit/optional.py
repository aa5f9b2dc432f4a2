"""Lazy imports of optional frameworks, naming the extra that provides each."""

from __future__ import annotations

import importlib
from types import ModuleType

from deploykit.errors import MissingBackendError

# import name -> (pip extra, what to tell the user)
_EXTRAS: dict[str, tuple[str, str]] = {
    "tensorflow": ("tflite", "TensorFlow"),
    "ai_edge_litert": ("tflite", "LiteRT (ai-edge-litert)"),
    "tf2onnx": ("tflite", "tf2onnx"),
    "onnx2tf": ("tflite", "onnx2tf"),
    "openvino": ("openvino", "OpenVINO"),
    "nncf": ("openvino", "NNCF"),
    "tensorrt": ("gpu", "TensorRT"),
    "cuda": ("gpu", "cuda-python"),
    "tensorboard": ("tensorboard", "TensorBoard"),
    "model_explorer": ("viewer", "Model Explorer (ai-edge-model-explorer)"),
    "netron": ("netron", "Netron"),
    "ray": ("fleet", "Ray"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise a one-line error naming the extra that installs it.

    Args:
        module: dotted import name, e.g. ``"openvino"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        root = module.split(".")[0]
        extra, label = _EXTRAS.get(root, ("", root))
        hint = f'pip install "deploykit[{extra}]"' if extra else f"pip install {root}"
        if root == "tensorrt":
            hint += " on an NVIDIA GPU machine, or use NVIDIA's TensorRT/JetPack container image"
        raise MissingBackendError(f"{label} is not installed ({exc})", hint) from None


def available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    return importlib.util.find_spec(module.split(".")[0]) is not None
