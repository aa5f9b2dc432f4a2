"""deploykit: prune, export and benchmark image classifiers for edge deployment.

Importing this package is cheap: torch, onnxruntime, TensorFlow and TensorRT are
imported by the modules that need them, when they need them.
"""

from deploykit.errors import DeployKitError

__version__ = "0.1.0"
__all__ = ["DeployKitError", "__version__"]
