"""Keras runner: the in-memory model (or a ``.keras`` file), the reference for Keras sources."""

from __future__ import annotations

import contextlib

import numpy as np

from deploykit.runners.base import Runner
from deploykit.tensorflow_compat import import_keras, import_tensorflow


class KerasRunner(Runner):
    """Calls a Keras model in inference mode on NHWC batches (converted by the base class)."""

    backend = "keras"

    def _open_impl(self) -> None:
        tf = import_tensorflow()
        keras = import_keras()
        if self.options.threads:
            # Only possible before TensorFlow starts its thread pools; later it stays as it is.
            with contextlib.suppress(RuntimeError):
                tf.config.threading.set_intra_op_parallelism_threads(self.options.threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
        if isinstance(self.model, keras.Model):
            self._model = self.model
        else:  # a file: safe mode, no Lambda code is run
            self._model = keras.models.load_model(str(self.model), compile=False, safe_mode=True)
        self.details = {
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
            "threads_used": tf.config.threading.get_intra_op_parallelism_threads() or None,
        }

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        out = self._model(batch, training=False)
        if isinstance(out, (list, tuple)):
            out = out[0]
        return np.asarray(out, dtype=np.float32)

    def _close_impl(self) -> None:
        self._model = None

    def _runtime_errors(self) -> tuple[type[BaseException], ...]:
        # Keras refuses a file with ValueError; TensorFlow's own failures are OpErrors.
        return (ValueError, import_tensorflow().errors.OpError)
