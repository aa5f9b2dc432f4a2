"""`deploykit layers` on full-size (224) INT8 models: wall time, and per-layer sums against the
end-to-end median on ONNX Runtime and OpenVINO.

Usage: python benchmarks/layers.py > benchmarks/results/layers.md

Exports torchvision resnet18 and mobilenet_v2 (random initialisation: no weights are
downloaded; latency does not depend on the values) to FP32 ONNX and to INT8 Q/DQ calibrated
on digits images resized to 224, then runs the CLI as a user would:
``deploykit layers MODEL_int8.onnx --backend onnxruntime,openvino``. It prints the wall time of
that command (the target is under 2 minutes) and, per backend, the per-layer sum, the
end-to-end median, their ratio (the target is within 25 %) and what the unattributed row says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("resnet18", "mobilenet_v2")
BACKENDS = ("onnxruntime", "openvino")


def export(name: str, out: Path, calib: Path) -> Path:
    from deploykit.export import ExportRequest, export_model

    fp32 = export_model(name, ExportRequest(out_dir=out, verify=False)).artifact
    request = ExportRequest(out_dir=out, precision="int8", calib=calib, verify=False)
    return export_model(str(fp32), request).artifact


def main() -> None:
    from deploykit.calibration import make_calibration_set
    from deploykit.host import cpu_model

    with tempfile.TemporaryDirectory(prefix="deploykit-layers-bench-") as tmp:
        work = Path(tmp)
        calib = make_calibration_set("digits", 64, 0, work / "calib.npz")
        print(f"CPU: {cpu_model()}; load before: {os.getloadavg()[0]:.1f}\n")
        print("| model | wall s | backend | layer sum ms | e2e median ms | ratio | unattributed |")
        print("|---|---:|---|---:|---:|---:|---|")
        for name in MODELS:
            artifact = export(name, work / name, calib)
            command = [
                sys.executable,
                "-m",
                "deploykit",
                "layers",
                str(artifact),
                "--backend",
                ",".join(BACKENDS),
                "--samples",
                "16",
                "--runs",
                "30",
                "-o",
                str(work / name / "layers"),
            ]
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, text=True)
            wall = time.perf_counter() - start
            report = json.loads((work / name / "layers" / "layers.json").read_text())
            for backend in BACKENDS:
                lat = report["backends"][backend]["latency"]
                why = report["unattributed"][backend]["why"] or "-"
                print(
                    f"| {name} | {wall:.0f} | {backend} | {lat['layer_sum_ms']:.2f} | "
                    f"{lat['e2e_median_ms']:.2f} | {lat['ratio']:.2f} | {why} |"
                )
        print(f"\nload after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
