"""What the CUDA runners (TensorRT, ONNX Runtime's CUDA/TensorRT providers, torch-cuda) share.

Device memory is read through torch (a core dependency) on the CUDA primary
context, which TensorRT and ONNX Runtime use too, so reading it creates no
second context.
"""

from __future__ import annotations


def device_used_mib(index: int) -> float | None:
    """Memory in use on CUDA device ``index`` (all processes), in MiB; None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info(index)
    return (total - free) / 2**20


class DeviceMemory:
    """Device memory a runner claimed: the device's memory in use now, minus before it opened.

    Device-wide, so another process allocating on the same GPU meanwhile shows
    up too; the benchmark runs one cell per device at a time.

    Args:
        index: the CUDA device.
    """

    def __init__(self, index: int) -> None:
        self.index = index
        self.before = device_used_mib(index)

    def claimed_mib(self) -> float | None:
        """MiB claimed since construction (None without CUDA)."""
        now = device_used_mib(self.index)
        if now is None or self.before is None:
            return None
        return round(max(now - self.before, 0.0), 1)
