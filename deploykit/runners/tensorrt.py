"""TensorRT runner: a serialized engine executed with ``execute_async_v3``.

Device memory, the stream, CUDA events and CUDA graphs come from torch.cuda
(torch is a core dependency). Each call times the enqueue between the
host->device and device->host copies with CUDA events: ``last_compute_s``.
``gpu_memory_mib`` is what the engine, its execution context and the I/O
buffers claimed on the device.
``RunnerOptions.extra``: ``cuda_graph`` (bool) captures the enqueue in a CUDA
graph per batch size and replays it; ``device`` (int) picks the GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deploykit import tensorrt_compat as compat
from deploykit.errors import InputError
from deploykit.runners.base import Runner


class TensorRtRunner(Runner):
    """Runs a ``.engine`` built by :mod:`deploykit.export.tensorrt`."""

    backend = "tensorrt"

    def _open_impl(self) -> None:
        trt = compat.tensorrt()
        import torch

        index = int(self.options.extra.get("device", 0))
        current = compat.device_record(index)
        compat.check_engine(self.model, current)
        from deploykit.runners.cuda import DeviceMemory

        self._memory = DeviceMemory(index)
        self._torch = torch
        self._device = torch.device("cuda", index)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with open(self.model, "rb") as fh:
            self._engine = self._runtime.deserialize_cuda_engine(fh.read())
        if self._engine is None:
            raise InputError(
                f"TensorRT {trt.__version__} cannot load {self.model}",
                "rebuild the engine on this machine with deploykit export --to trt",
            )
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self._input = next(n for n in names if is_input[n])
        self._output = next(n for n in names if not is_input[n])
        self._dtypes = {n: np.dtype(trt.nptype(self._engine.get_tensor_dtype(n))) for n in names}
        shape = tuple(self._engine.get_tensor_shape(self._input))
        if shape[0] == -1:
            self.max_batch = int(self._engine.get_tensor_profile_shape(self._input, 0)[2][0])
        else:
            self.max_batch = int(shape[0])
        self._stream = torch.cuda.Stream(device=self._device)
        self._graphs: dict[int, Any] = {}
        self._buffers: dict[int, tuple[Any, Any]] = {}
        self.details = {**current, "cuda_graph": bool(self.options.extra.get("cuda_graph"))}

    def _bind(self, batch: int) -> tuple[Any, Any]:
        """Device input/output buffers for ``batch``, bound to the context."""
        torch = self._torch
        if batch not in self._buffers:
            shape = (batch, *self._engine.get_tensor_shape(self._input)[1:])
            self._context.set_input_shape(self._input, shape)
            out_shape = tuple(self._context.get_tensor_shape(self._output))
            x = torch.empty(
                shape, dtype=_torch_dtype(torch, self._dtypes[self._input]), device=self._device
            )
            y = torch.empty(
                out_shape,
                dtype=_torch_dtype(torch, self._dtypes[self._output]),
                device=self._device,
            )
            self._buffers[batch] = (x, y)
            self.gpu_memory_mib = self._memory.claimed_mib()
        x, y = self._buffers[batch]
        self._context.set_input_shape(self._input, tuple(x.shape))
        self._context.set_tensor_address(self._input, x.data_ptr())
        self._context.set_tensor_address(self._output, y.data_ptr())
        return x, y

    def _enqueue(self, batch: int) -> None:
        torch = self._torch
        if not self.options.extra.get("cuda_graph"):
            self._context.execute_async_v3(self._stream.cuda_stream)
            return
        if batch not in self._graphs:
            # One plain run first: TensorRT defers some work to the first enqueue.
            self._context.execute_async_v3(self._stream.cuda_stream)
            self._stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=self._stream):
                self._context.execute_async_v3(self._stream.cuda_stream)
            self._graphs[batch] = graph
        self._graphs[batch].replay()

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        x, y = self._bind(len(batch))
        host_in = torch.from_numpy(batch.astype(self._dtypes[self._input], copy=False))
        start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
        with torch.cuda.stream(self._stream):
            x.copy_(host_in, non_blocking=True)
            start.record(self._stream)
            self._enqueue(len(batch))
            end.record(self._stream)
            host_out = y.to("cpu", non_blocking=False)
        end.synchronize()
        self.last_compute_s = start.elapsed_time(end) / 1e3
        return host_out.numpy().astype(np.float32, copy=False)

    def _close_impl(self) -> None:
        self._graphs.clear()
        self._buffers.clear()
        self._context = None
        self._engine = None
        self._runtime = None

    def _runtime_errors(self) -> tuple[type[BaseException], ...]:
        # TensorRT's Python API and torch.cuda report failures as RuntimeError.
        return (RuntimeError,)


def _torch_dtype(torch: Any, dtype: np.dtype) -> Any:
    return {
        np.dtype(np.float32): torch.float32,
        np.dtype(np.float16): torch.float16,
        np.dtype(np.int8): torch.int8,
        np.dtype(np.int32): torch.int32,
    }[np.dtype(dtype)]
