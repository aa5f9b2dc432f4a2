"""LiteRT runner: ``.tflite`` files in the ``ai_edge_litert`` interpreter, XNNPACK or GPU delegate."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from deploykit.errors import InputError, MissingBackendError
from deploykit.optional import require
from deploykit.runners.base import Runner
from deploykit.tensorflow_compat import silenced_output

# Where TFLite GPU delegate builds are found: Linux/Jetson bazel builds, Android, macOS (Metal).
GPU_DELEGATE_NAMES = (
    "libtensorflowlite_gpu_delegate.so",
    "libtensorflowlite_gpu_gl.so",
    "libtensorflowlite_gpu_delegate.dylib",
    "libmetal_delegate.dylib",
)
GPU_DELEGATE_HINT = (
    "build it from the TensorFlow source tree with bazel build -c opt "
    "//tensorflow/lite/delegates/gpu:libtensorflowlite_gpu_delegate.so, or take the one in your "
    "Jetson/Android image, and pass --delegate-path; or run without --delegate"
)
CPU_DELEGATES = (None, "", "cpu", "xnnpack")


def load_gpu_delegate(path: str | None) -> tuple[object, str]:
    """The GPU delegate from ``path`` or a known library name, and where it came from.

    Raises:
        InputError: when ``path`` does not exist or does not load as a delegate.
        MissingBackendError: when no known GPU delegate library is on this machine.
    """
    from ai_edge_litert.interpreter import load_delegate

    if path and not Path(path).is_file():
        raise InputError(f"GPU delegate library {path} does not exist", GPU_DELEGATE_HINT)
    for name in [path] if path else GPU_DELEGATE_NAMES:
        try:
            # Probe with ctypes first: a failed load_delegate leaves a half-built
            # Delegate whose destructor prints a traceback.
            ctypes.CDLL(name)
            return load_delegate(name), name
        except (OSError, ValueError, RuntimeError) as exc:
            if path:
                first = (str(exc).strip().splitlines() or ["load failed"])[0][:200]
                raise InputError(
                    f"cannot load GPU delegate {path} ({first})", GPU_DELEGATE_HINT
                ) from None
    raise MissingBackendError(
        f"no TFLite GPU delegate library on this machine (tried {', '.join(GPU_DELEGATE_NAMES)})",
        GPU_DELEGATE_HINT,
    )


def check_delegate(extra: dict) -> str:
    """Check up front that the delegate ``extra`` asks for loads here; return its name.

    The bench calls this before timing anything, so a missing GPU delegate ends
    the run with one line and a non-zero exit instead of a failed cell.

    Raises:
        InputError, MissingBackendError: as :func:`load_gpu_delegate`, or for an unknown name.
    """
    if delegate_name(extra) == "gpu":
        require("ai_edge_litert.interpreter")
        load_gpu_delegate(extra.get("delegate_path"))
    return delegate_name(extra)


def delegate_name(extra: dict) -> str:
    """``"xnnpack"`` (the CPU default) or ``"gpu"``; an unknown name is an error."""
    wanted = extra.get("delegate")
    if wanted in CPU_DELEGATES:
        return "xnnpack"
    if wanted != "gpu":
        raise InputError(f"unknown LiteRT delegate {wanted!r}", "use --delegate gpu, or none")
    return "gpu"


class LiteRtRunner(Runner):
    """Runs a ``.tflite`` file; int8 input/output are (de)quantised from the model's parameters.

    ``options.extra``: ``delegate`` (``"gpu"``; default XNNPACK on CPU) and
    ``delegate_path`` (the GPU delegate library). A requested delegate that
    cannot be loaded is an error, never a silent fallback to CPU.
    """

    backend = "litert"

    def _open_impl(self) -> None:
        litert = require("ai_edge_litert.interpreter")
        extra = self.options.extra
        delegates = []
        self.details = {"delegate": "xnnpack"}
        if delegate_name(extra) == "gpu":
            delegate, where = load_gpu_delegate(extra.get("delegate_path"))
            delegates.append(delegate)
            self.details = {"delegate": "gpu", "delegate_library": where}
            self.device = "gpu"
        # AUTO resolver = builtin kernels with XNNPACK applied by default on CPU;
        # silenced: the runtime prints "Created TensorFlow Lite XNNPACK delegate" to stderr.
        with silenced_output():
            self._interp = litert.Interpreter(
                model_path=str(self.model),
                num_threads=self.options.threads,
                experimental_delegates=delegates or None,
                experimental_op_resolver_type=litert.OpResolverType.AUTO,
            )
            self._interp.allocate_tensors()
        detail = self._interp.get_input_details()[0]
        self._input = detail["index"]
        self._dynamic = int(detail["shape_signature"][0]) == -1
        self._batch = int(detail["shape"][0])
        # A fixed-batch model is fed chunks of its batch size (the last one padded).
        self.max_batch = None if self._dynamic else self._batch
        out = self._interp.get_output_details()[0]
        self._output = out["index"]
        self._in_dtype, self._in_quant = detail["dtype"], detail["quantization"]
        self._out_dtype, self._out_quant = out["dtype"], out["quantization"]
        self.details.update(
            {
                "ai_edge_litert": getattr(litert, "__version__", None) or _version(),
                "input_dtype": np.dtype(self._in_dtype).name,
                "output_dtype": np.dtype(self._out_dtype).name,
                "threads_used": self.options.threads,
            }
        )

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        if self._in_dtype == np.float32:
            return x
        scale, zero = self._in_quant
        info = np.iinfo(self._in_dtype)
        q = np.round(x / scale + zero)
        return np.clip(q, info.min, info.max).astype(self._in_dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        if self._out_dtype == np.float32:
            return y
        scale, zero = self._out_quant
        return (y.astype(np.float32) - zero) * scale

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        n = len(batch)
        if self._dynamic and n != self._batch:
            self._interp.resize_tensor_input(self._input, [n, *batch.shape[1:]])
            self._interp.allocate_tensors()
            self._batch = n
        elif not self._dynamic and n < self._batch:
            pad = np.zeros((self._batch - n, *batch.shape[1:]), dtype=batch.dtype)
            batch = np.concatenate([batch, pad])
        self._interp.set_tensor(self._input, self._quantize(batch))
        self._interp.invoke()
        return self._dequantize(self._interp.get_tensor(self._output)[:n])

    def _close_impl(self) -> None:
        self._interp = None

    def _runtime_errors(self) -> tuple[type[BaseException], ...]:
        # The interpreter raises ValueError for a file it cannot parse and
        # RuntimeError when it cannot prepare the graph (allocate_tensors).
        return (ValueError, RuntimeError)


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:
        return None
