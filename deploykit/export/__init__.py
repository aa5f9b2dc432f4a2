"""Exporters: one module per target (onnx, tflite, tensorrt), dispatched from the capability table.

:func:`export_model` loads the source, builds the artifact atomically, verifies
it against the source on real samples, and writes its manifest.
"""

from deploykit.export.api import ExportRequest, ExportResult, export_model
from deploykit.export.verify import Tolerance

__all__ = ["ExportRequest", "ExportResult", "Tolerance", "export_model"]
