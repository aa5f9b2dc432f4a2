"""Every seed torchvision classifier exported to ONNX at its full size and verified.

Usage: python benchmarks/export_all.py > benchmarks/results/export_all.md

Random weights (nothing is downloaded); verification runs the ONNX file in ONNX Runtime and
the torch model on the same 8 real digits images, prepared with the model's own recipe.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from deploykit.export import ExportRequest, export_model
from deploykit.host import describe
from deploykit.zoo import SEED_ARCHITECTURES


def main() -> None:
    print(
        "### Every seed architecture exports to ONNX and verifies (full size, batch axis dynamic)\n"
    )
    print("Command: `python benchmarks/export_all.py`  ")
    print(f"CPU: {describe()}\n")
    print(
        "| model | input | exporter | nodes | MiB | max abs diff | cosine | top-1 agreement | export s |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    out = Path(tempfile.mkdtemp())
    for name in SEED_ARCHITECTURES:
        start = time.perf_counter()
        result = export_model(name, ExportRequest(out_dir=out, verify_samples=8))
        seconds = time.perf_counter() - start
        m = result.manifest
        v = m.verification
        print(
            f"| {name} | {'x'.join(map(str, m.input.nchw[1:]))} | {m.exporter['mode']} | "
            f"{m.exporter['nodes']} | {m.size_bytes / 2**20:.1f} | {v['max_abs_diff']:.2g} | "
            f"{v['cosine']:.7f} | {v['top1_agreement']:.0%} | {seconds:.0f} |"
        )
        result.artifact.unlink()


if __name__ == "__main__":
    main()
