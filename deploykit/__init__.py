"""deploykit: prune, export and benchmark image classifiers for edge deployment.

Importing this package is cheap: torch, onnxruntime, TensorFlow and TensorRT are
imported by the modules that need them, when they need them.
"""

import os

from deploykit.errors import DeployKitError

# ONNX Runtime's telemetry writes a session file ($TMPDIR/.ses) on import and never
# removes it; deploykit writes nothing outside its output folder, so it is off unless
# the user turns it on (set before any onnxruntime import, here or in a bench worker).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
__all__ = ["DeployKitError", "__version__"]
