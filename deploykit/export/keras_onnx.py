"""Keras -> ONNX with Keras 3's own exporter (``model.export(format="onnx")``).

Why this route: with Keras 3 on TensorFlow 2.21, ``Model.export`` traces the
model's ``call`` into a ``tf.function`` and hands it to tf2onnx after patching
tf2onnx for NumPy 2 (``keras.src.export.tf2onnx_lib``). Calling
``tf2onnx.convert.from_keras`` directly targets tf.keras (Keras 2) objects and
needs those NumPy-2 patches applied by hand. Both produce the same graph on our
models; Keras' exporter is the one Keras maintains and tests against itself.
The graph keeps Keras' NHWC input; the manifest records it and runners convert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploykit.errors import InputError, first_line
from deploykit.sources import LoadedModel
from deploykit.tensorflow_compat import import_keras, import_tensorflow, silenced_output


def keras_to_onnx(loaded: LoadedModel, request: Any, dest: Path) -> dict[str, Any]:
    """Write the FP32 ONNX graph of a Keras model to ``dest``; return exporter facts.

    Args:
        loaded: a ``kind == "keras"`` model (NHWC spec).
        request: the export request (``opset``, ``dynamic_batch``).
        dest: the ``.onnx`` path to write.
    """
    tf = import_tensorflow()
    keras = import_keras()
    from deploykit.optional import require

    tf2onnx = require("tf2onnx")
    spec = loaded.spec
    batch = None if request.dynamic_batch else spec.shape[0]
    signature = [tf.TensorSpec((batch, *spec.shape[1:]), tf.float32, name=spec.name)]
    try:
        with silenced_output():
            loaded.model.export(
                str(dest),
                format="onnx",
                verbose=False,
                input_signature=signature,
                opset_version=request.opset,
            )
    except Exception as exc:  # tf2onnx fails in many ways on unsupported ops
        first = first_line(exc)
        raise InputError(
            f"Keras could not export {loaded.name} to ONNX ({first})",
            "try a lower --opset, or export to tflite instead",
        ) from None
    return {
        "name": "keras.Model.export",
        "format": "onnx",
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "tf2onnx": tf2onnx.__version__,
        "opset": request.opset,
        "layout": spec.layout,
    }
