"""`deploykit layers` on full-size (224) INT8 models: wall time, and per-layer sums against the
end-to-end median on ONNX Runtime and OpenVINO, with 1 and 2 threads.

Usage: python benchmarks/layers.py > benchmarks/results/layers.md

Exports torchvision resnet18 and mobilenet_v2 (random initialisation: no weights are
downloaded; latency does not depend on the values) to FP32 ONNX and to INT8 Q/DQ calibrated
on digits images resized to 224, then runs the CLI as a user would:

1. ``deploykit layers MODEL_int8.onnx --backend onnxruntime,openvino`` with every default
   (digits, per-layer accuracy, the measured FP32-recovery ranking, latency): its wall time
   (the target is under 2 minutes) with the load average before and after;
2. ``... --no-accuracy --threads N`` for N = 1 and 2: per backend, the per-layer sum, the
   end-to-end median, their ratio (the target is within 25 %) and the measured parts of the
   gap (``deploykit.layers.latency.gap_parts``: kernels' spread over their medians, between
   kernels inside ORT's run, around the run; this process's run-queue wait).
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
THREADS = (1, 2)


def export(name: str, out: Path, calib: Path) -> Path:
    from deploykit.export import ExportRequest, export_model

    fp32 = export_model(name, ExportRequest(out_dir=out, verify=False)).artifact
    request = ExportRequest(out_dir=out, precision="int8", calib=calib, verify=False)
    return export_model(str(fp32), request).artifact


def run_layers(artifact: Path, out: Path, *extra: str) -> tuple[float, str, dict]:
    """Run the CLI; return its wall time, the load averages around it and its report."""
    command = [sys.executable, "-m", "deploykit", "layers", str(artifact)]
    command += ["--backend", ",".join(BACKENDS), "-o", str(out), *extra]
    before = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    load = f"{before:.1f} -> {os.getloadavg()[0]:.1f}"
    return wall, load, json.loads((out / "layers.json").read_text())


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    from deploykit.calibration import make_calibration_set
    from deploykit.host import cpu_model

    with tempfile.TemporaryDirectory(prefix="deploykit-layers-bench-") as tmp:
        work = Path(tmp)
        calib = make_calibration_set("digits", 64, 0, work / "calib.npz")
        artifacts = {name: export(name, work / name, calib) for name in MODELS}
        print(f"CPU: {cpu_model()}, {os.cpu_count()} CPUs\n")
        print("| model | command | wall s | load before -> after | measured |")
        print("|---|---|---:|---|---|")
        for name, artifact in artifacts.items():
            wall, load, report = run_layers(artifact, work / name / "layers")
            sens = report["backends"]["onnxruntime"]["accuracy"]["sensitivity"]
            what = (
                f"{report['data']['samples']} images; {sens['measured']} layers kept in FP32; "
                + ", ".join(
                    f"{b} {report['backends'][b]['latency']['runs']} runs" for b in BACKENDS
                )
            )
            print(f"| {name} | defaults | {wall:.0f} | {load} | {what} |")
        print(
            "\n| model | threads | backend | layer sum ms | e2e median ms | ratio | "
            "spread ms | between kernels ms | around ms | run-queue wait ms | load |"
        )
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for name, artifact in artifacts.items():
            for threads in THREADS:
                out = work / name / f"threads{threads}"
                _, load, report = run_layers(
                    artifact, out, "--no-accuracy", "--threads", str(threads)
                )
                for backend in BACKENDS:
                    lat = report["backends"][backend]["latency"]
                    gap = report["unattributed"][backend]
                    print(
                        f"| {name} | {threads} | {backend} | {lat['layer_sum_ms']:.2f} | "
                        f"{lat['e2e_median_ms']:.2f} | {lat['ratio']:.2f} | "
                        f"{_ms(gap.get('spread_ms'))} | "
                        f"{_ms(gap.get('between_kernels_ms'))} | "
                        f"{_ms(gap.get('outside_run_ms'))} | "
                        f"{_ms(gap.get('runqueue_wait_ms'))} | {load} |"
                    )
                print(
                    f"\n{name}, {threads} thread(s), why: "
                    + "; ".join(f"{b}: {report['unattributed'][b]['why'] or '-'}" for b in BACKENDS)
                    + "\n",
                    file=sys.stderr,
                )


if __name__ == "__main__":
    main()
