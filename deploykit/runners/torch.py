"""PyTorch eager runner on CPU or CUDA.

On CUDA each call times the forward pass between the host->device and
device->host copies with CUDA events (``last_compute_s``) and reports the peak
memory torch allocated on the device (``gpu_memory_mib``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deploykit.errors import InputError
from deploykit.runners.base import Runner
from deploykit.sources.torch_common import eval_mode


class TorchRunner(Runner):
    """Runs an ``nn.Module`` (or a ``torch.export`` module) eagerly under ``inference_mode``."""

    backend = "torch"

    def _open_impl(self) -> None:
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise InputError(
                "torch-cuda needs a CUDA GPU and none is visible", "use --backend torch"
            )
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        self._torch = torch
        self._module = eval_mode(self.model.to(self.device))
        # A static torch.export program accepts its example batch only.
        self.max_batch = None if self.spec.dynamic_batch else self.spec.shape[0]
        self.details = {"torch": torch.__version__, "threads_used": torch.get_num_threads()}

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            if self.device != "cuda":
                return _first(self._module(x)).float().numpy()
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            out = _first(self._module(x))
            end.record()
            end.synchronize()
            self.last_compute_s = start.elapsed_time(end) / 1e3
            self.gpu_memory_mib = round(torch.cuda.max_memory_allocated(x.device) / 2**20, 1)
            return out.float().cpu().numpy()

    def _runtime_errors(self) -> tuple[type[BaseException], ...]:
        import torch

        # Moving the model to a GPU without room for it.
        return (torch.cuda.OutOfMemoryError,)


def _first(out: Any) -> Any:
    """The logits of a model that returns a tensor, or a tuple/list starting with them."""
    return out[0] if isinstance(out, (tuple, list)) else out
