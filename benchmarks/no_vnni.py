"""INT8 top-1 on CPUs without VNNI: 8-bit vs 7-bit weights, emulated by capping oneDNN at AVX2.

Usage: python benchmarks/no_vnni.py > benchmarks/results/no_vnni.md

Exports the digits-trained demo models to FP32 ONNX and to INT8 Q/DQ with int8 or uint8
activations and int8 or int7 weights, then scores each file on the digits test split in ONNX
Runtime and OpenVINO, once as the CPU is and once with ``ONEDNN_MAX_CPU_ISA=AVX2`` (OpenVINO's
oneDNN then uses the pre-VNNI ``VPMADDUBSW`` kernels; ONNX Runtime's MLAS ignores the variable,
so its column is this CPU's own kernels in both runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

VARIANTS = {
    "fp32": None,
    "int8 act / int8 w": {},
    "uint8 act / int8 w": {"activations": "uint8"},
    "int8 act / int7 w": {"weights": "int7"},
    "uint8 act / int7 w": {"activations": "uint8", "weights": "int7"},
}
MODELS = ("demo_resnet", "demo_mobilenet_v2")


def export(out: Path) -> dict[str, dict[str, str]]:
    from deploykit.calibration import make_calibration_set
    from deploykit.export import ExportRequest, export_model
    from deploykit.zoo.trained import load_trained

    calib = make_calibration_set("digits", 64, 0, out / "calib.npz")
    files: dict[str, dict[str, str]] = {}
    for name in MODELS:
        fp32 = export_model(load_trained(name), ExportRequest(out_dir=out / "fp32")).artifact
        files[name] = {"fp32": str(fp32)}
        for i, (label, options) in enumerate(VARIANTS.items()):
            if options is None:
                continue
            request = ExportRequest(
                out_dir=out / f"v{i}", precision="int8", calib=calib, options=options
            )
            files[name][label] = str(export_model(str(fp32), request).artifact)
    return files


def score(files: dict[str, dict[str, str]]) -> dict[str, float]:
    from deploykit.data import load_dataset, prepare
    from deploykit.manifest import read_manifest
    from deploykit.runners import RunnerOptions, open_runner

    test = load_dataset("digits", "test")
    top1 = {}
    for name, variants in files.items():
        for label, path in variants.items():
            manifest = read_manifest(Path(path))
            x = prepare(test.images, manifest.input)
            for backend in ("onnxruntime", "openvino"):
                options = RunnerOptions(threads=2, precision=manifest.precision)
                with open_runner(backend, path, manifest.input, options) as runner:
                    hits = runner.infer(x).argmax(1) == test.labels
                top1[f"{name}|{label}|{backend}"] = float(hits.mean() * 100)
    return top1


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--score":
        print(json.dumps(score(json.loads(Path(sys.argv[2]).read_text()))))
        return
    from deploykit.host import describe

    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "files.json"
        listing.write_text(json.dumps(export(Path(tmp))))
        runs = {}
        for cap in ("", "AVX2"):
            env = {**os.environ, "ONEDNN_MAX_CPU_ISA": cap} if cap else dict(os.environ)
            done = subprocess.run(
                [sys.executable, __file__, "--score", str(listing)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            runs[cap or "native"] = json.loads(done.stdout.strip().splitlines()[-1])
    print("### INT8 on CPUs without VNNI: 8-bit vs 7-bit weights\n")
    print("Command: `python benchmarks/no_vnni.py`  ")
    print(f"CPU: {describe()}\n")
    print("| model | artifact | ORT | OpenVINO (this CPU) | OpenVINO (oneDNN capped at AVX2) |")
    print("|---|---|---:|---:|---:|")
    for name in MODELS:
        for label in VARIANTS:
            key = f"{name}|{label}"
            print(
                f"| {name} | {label} | {runs['native'][key + '|onnxruntime']:.2f} | "
                f"{runs['native'][key + '|openvino']:.2f} | {runs['AVX2'][key + '|openvino']:.2f} |"
            )


if __name__ == "__main__":
    main()
