"""INT8 on x86 CPUs without VNNI: when 8-bit weights can saturate, and what to export instead.

Without VNNI, x86 INT8 kernels multiply u8 activations by s8 weights with
VPMADDUBSW, which adds two products into a saturating 16-bit sum: 255 x 127 x 2
overflows it. oneDNN (OpenVINO) and MLAS (ONNX Runtime, see its quantization
guide) both use that instruction there. Weights kept in a 7-bit range
(``--option weights=int7``) cannot overflow it. Measured here with oneDNN
capped at AVX2: demo_resnet INT8 on OpenVINO fell from 98.8 % to 77.0 % top-1
with 8-bit weights and stayed at 98.8 % with 7-bit weights. The host facts
themselves live in :mod:`deploykit.host`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from deploykit.host import cpu_isa, lacks_vnni


def saturation_warning(artifact: Path | str, flags: Iterable[str]) -> str | None:
    """A one-line warning when ``artifact`` is an INT8 Q/DQ file with 8-bit weights on such a CPU.

    Args:
        artifact: the file a runner opens; ONNX files and OpenVINO IR built from them,
            with a manifest, are judged.
        flags: the CPU's ISA flags (:func:`deploykit.host.cpu_isa`).
    """
    from deploykit.manifest import read_manifest
    from deploykit.targets import format_of

    if format_of(artifact) not in ("onnx", "openvino") or not lacks_vnni(flags):
        return None
    manifest = read_manifest(Path(artifact))
    if manifest is None or manifest.precision != "int8":
        return None
    # An IR records the Q/DQ graph it was converted from under "from" (NNCF's has no weights key).
    weights = str(manifest.exporter.get("from", manifest.exporter).get("weights", ""))
    if not weights.startswith("int8"):
        return None
    return (
        "this CPU has no VNNI, so INT8 products with 8-bit weights can saturate and lose "
        "accuracy; re-export with --option weights=int7"
    )


def local_int8_weights() -> str:
    """``int7`` on an x86 CPU without VNNI, else ``int8``: for artifacts run where they are built."""
    return "int7" if lacks_vnni(cpu_isa()) else "int8"
