"""Facts about the machine deploykit runs on: CPU model, ISA flags, cores, memory.

The one reader of ``/proc/cpuinfo``: the runners record the ISA with what ran,
the bench stores :func:`cpu_info` with every result, and the benchmark scripts
print it next to their figures.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# ISA extensions that decide which CPU kernels run (OpenVINO's oneDNN, ONNX Runtime's MLAS).
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "sve",
)
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
X86_MACHINES = ("x86_64", "amd64", "i686", "x86")


def _cpuinfo() -> tuple[str | None, set[str]]:
    """The model name and the flags (x86) or features (Arm) in Linux ``/proc/cpuinfo``."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, set()
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
    return (
        model.group(1).strip() if model else None,
        set(flags.group(1).split()) if flags else set(),
    )


def cpu_model() -> str:
    """The CPU's model name, else what ``platform`` reports."""
    return _cpuinfo()[0] or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """Every ISA flag this CPU reports (empty where ``/proc/cpuinfo`` is missing)."""
    return _cpuinfo()[1]


def cpu_isa() -> list[str]:
    """The flags of :data:`ISA_FLAGS` this CPU reports, in that order."""
    present = cpu_flags()
    return [flag for flag in ISA_FLAGS if flag in present]


def lacks_vnni(flags: Iterable[str]) -> bool:
    """True on an x86 CPU whose ``flags`` name no VNNI or AMX INT8 instructions."""
    if platform.machine().lower() not in X86_MACHINES:
        return False
    return not set(flags) & set(VNNI_FLAGS)


def cpu_info() -> dict[str, Any]:
    """CPU model, architecture, logical/physical/usable cores, memory and :func:`cpu_isa`."""
    info: dict[str, Any] = {
        "model": cpu_model(),
        "arch": platform.machine(),
        "logical_cores": os.cpu_count(),
        "flags": cpu_isa(),
    }
    try:
        import psutil

        info["physical_cores"] = psutil.cpu_count(logical=False)
        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    return info


def describe() -> str:
    """One line for benchmark output: model, usable cores, ISA flags."""
    info = cpu_info()
    cores = info.get("usable_cores", info["logical_cores"])
    return f"{info['model']}, {cores} usable cores, ISA: {' '.join(info['flags']) or 'unknown'}"
