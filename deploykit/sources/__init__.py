"""Model sources: turn a reference the user typed into a model plus its input spec.

A reference is a registry name (``resnet18``), a ``module:factory`` path, a
``torch.export`` ``.pt2`` file, an ``.onnx`` file, or (with the ``tflite``
extra) a Keras model. :func:`load_model` dispatches on its form.
"""

from deploykit.sources.base import LoadedModel, SourceOptions, load_model

__all__ = ["LoadedModel", "SourceOptions", "load_model"]
