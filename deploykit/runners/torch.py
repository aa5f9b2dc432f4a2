"""PyTorch eager runner on CPU or CUDA."""

from __future__ import annotations

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
        self.details = {"torch": torch.__version__, "threads_used": torch.get_num_threads()}

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            out = self._module(torch.from_numpy(batch).to(self.device))
            if isinstance(out, (tuple, list)):
                out = out[0]
            if self.device == "cuda":
                torch.cuda.synchronize()
            return out.float().cpu().numpy()
