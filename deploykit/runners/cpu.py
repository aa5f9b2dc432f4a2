"""The CPU's ISA, and INT8 on x86 CPUs without VNNI (when 8-bit weights can saturate).

Without VNNI, x86 INT8 kernels multiply u8 activations by s8 weights with
VPMADDUBSW, which adds two products into a saturating 16-bit sum: 255 x 127 x 2
overflows it. oneDNN (OpenVINO) and MLAS (ONNX Runtime, see its quantization
guide) both use that instruction there. Weights kept in a 7-bit range
(``--option weights=int7``) cannot overflow it. Measured here with oneDNN
capped at AVX2: demo_resnet INT8 on OpenVINO fell from 98.8 % to 77.0 % top-1
with 8-bit weights and stayed at 98.8 % with 7-bit weights.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable
from pathlib import Path

# ISA extensions that decide which CPU kernels run (OpenVINO, ONNX Runtime's MLAS).
ISA_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_int8",
    "avx_vnni",
    "asimd",
    "sve",
)
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


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
    """The ISA flags above that this CPU reports."""
    present = cpu_flags()
    return [flag for flag in ISA_FLAGS if flag in present]


def lacks_vnni(flags: Iterable[str]) -> bool:
    """True on an x86 CPU whose flags name no VNNI or AMX INT8 instructions."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return False
    return not set(flags) & set(VNNI_FLAGS)


def saturation_warning(artifact: Path | str, flags: Iterable[str]) -> str | None:
    """A one-line warning when ``artifact`` is an INT8 Q/DQ file with 8-bit weights on such a CPU.

    Reads the artifact's manifest; files without one are not judged.
    """
    from deploykit.manifest import read_manifest
    from deploykit.targets import format_of

    if format_of(artifact) != "onnx" or not lacks_vnni(flags):
        return None
    manifest = read_manifest(Path(artifact))
    if manifest is None or manifest.precision != "int8":
        return None
    weights = str(manifest.exporter.get("weights", ""))
    if not weights.startswith("int8"):
        return None
    return (
        "this CPU has no VNNI, so INT8 products with 8-bit weights can saturate and lose "
        "accuracy; re-export with --option weights=int7"
    )


def local_int8_weights() -> str:
    """``int7`` on an x86 CPU without VNNI, else ``int8``: for artifacts run where they are built."""
    return "int7" if lacks_vnni(cpu_isa()) else "int8"
