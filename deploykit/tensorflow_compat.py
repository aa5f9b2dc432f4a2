"""The one place deploykit imports TensorFlow and Keras.

TensorFlow >= 2.20 loads its bundled LLVM into the global symbol namespace.
If triton (which torch's CUDA build pulls in lazily, e.g. inside
``torch.export.load`` or ``torch.compile``) is imported *after* TensorFlow, the
two LLVMs clash and the process segfaults (tensorflow/tensorflow#124205).
Importing triton first avoids it, so every TensorFlow import goes through here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from deploykit.optional import require


def _import_triton_first() -> None:
    """Import triton before TensorFlow when it is installed and TF is not loaded yet."""
    if "tensorflow" in sys.modules or importlib.util.find_spec("triton") is None:
        return
    with contextlib.suppress(Exception):  # a broken triton must not block TensorFlow
        importlib.import_module("triton")


def import_tensorflow() -> ModuleType:
    """``tensorflow``, imported safely next to torch and with its logging quieted.

    Raises:
        MissingBackendError: when TensorFlow is not installed (names the ``tflite`` extra).
    """
    if "tensorflow" not in sys.modules:
        # C++ INFO/WARNING lines (oneDNN, CUDA probing) would interleave with our output.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        _import_triton_first()
        # Lines logged before absl is initialised ignore TF_CPP_MIN_LOG_LEVEL.
        with silenced_output():
            tf = require("tensorflow")
    tf = require("tensorflow")
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tf


def import_keras() -> ModuleType:
    """``keras`` (Keras 3 on the TensorFlow backend), imported after :func:`import_tensorflow`."""
    import_tensorflow()
    return require("keras")


# keras.applications whose default input is not 224x224.
_APPLICATION_SIZES = {
    "InceptionV3": 299,
    "InceptionResNetV2": 299,
    "Xception": 299,
    "NASNetLarge": 331,
    "EfficientNetB1": 240,
    "EfficientNetB2": 260,
    "EfficientNetB3": 300,
    "EfficientNetB4": 380,
    "EfficientNetB5": 456,
    "EfficientNetB6": 528,
    "EfficientNetB7": 600,
    "EfficientNetV2B1": 240,
    "EfficientNetV2B2": 260,
    "EfficientNetV2B3": 300,
    "EfficientNetV2S": 384,
    "EfficientNetV2M": 480,
    "EfficientNetV2L": 480,
}


def keras_application_names() -> list[tuple[str, int]]:
    """``(name, default input size)`` of every model in ``keras.applications``."""
    keras = import_keras()
    names = [n for n in dir(keras.applications) if n[:1].isupper()]
    return [(n, _APPLICATION_SIZES.get(n, 224)) for n in sorted(names)]


@contextlib.contextmanager
def silenced_output(log: Path | None = None) -> Iterator[None]:
    """Send stdout and stderr (Python and native) to ``log``, or /dev/null, for the duration.

    The TFLite converter, Keras' export archive and onnx2tf print progress from
    C++ and Python; a CLI user wants one line of result, not those. Keep a
    ``log`` to quote the tool's own error when it fails.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    sink_fd = os.open(log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(sink_fd, 1)
        os.dup2(sink_fd, 2)
        with (
            open(os.devnull if log is None else log, "a") as sink,
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, sink_fd):
            os.close(fd)


def last_error_line(log: Path) -> str | None:
    """The last line of ``log`` that reports an error (ANSI colours stripped), if any."""
    if not log.is_file():
        return None
    lines = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace")).splitlines()
    errors = [line.strip() for line in lines if "error" in line.lower() and line.strip()]
    return errors[-1][:200] if errors else None
