"""OpenVINO IR INT8 against our Q/DQ ONNX on OpenVINO, both quantizers, measured in one run.

Usage: python benchmarks/openvino_ir.py [--threads 2] [--rounds 5] [--min-time 2]

Latency: batch 1 at 224x224 (random-weight torchvision models: only speed is
measured on them), every cell on the OpenVINO runner, interleaved rounds
(``deploykit.bench.timing.interleaved_rounds``), median of each cell's p50.
Top-1: the digits-trained demo models on 400 digits test images. All INT8
artifacts use the same calibration set (calibration/digits-256.npz).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rounds_args import rounds_parser

from deploykit.bench.timing import TimingConfig, interleaved_rounds, p50_call
from deploykit.data import load_dataset, prepare
from deploykit.export import ExportRequest, export_model
from deploykit.host import describe
from deploykit.manifest import library_versions
from deploykit.runners import RunnerOptions, open_runner
from deploykit.runners.cpu import local_int8_weights
from deploykit.sources import SourceOptions, load_model
from deploykit.zoo.trained import load_trained

CALIB = Path(__file__).resolve().parents[1] / "calibration" / "digits-256.npz"
MODELS = ("resnet18", "mobilenet_v2")
DEMOS = ("demo_resnet", "demo_mobilenet_v2")
# label -> (file stem suffix, target, precision, target options)
CELLS = {
    "ONNX FP32": ("fp32", "onnx", "fp32", {}),
    "Q/DQ ONNX INT8": ("qdq", "onnx", "int8", {}),
    "IR INT8 (qdq)": ("ir_qdq", "openvino", "int8", {"quantizer": "qdq"}),
    "IR INT8 (nncf)": ("ir_nncf", "openvino", "int8", {"quantizer": "nncf"}),
}


def export_cells(loaded, out: Path) -> dict[str, tuple[object, float]]:
    """Every cell's export result for one model, with the seconds the export took."""
    results = {}
    for label, (stem, target, precision, options) in CELLS.items():
        if precision == "int8" and options.get("quantizer", "qdq") == "qdq":
            options = {**options, "weights": local_int8_weights()}
        request = ExportRequest(
            target=target,
            precision=precision,
            out_dir=out,
            calib=CALIB,
            options=options,
            name=f"{loaded.name}_{stem}",
            verify=False,
        )
        start = time.perf_counter()
        results[label] = (export_model(loaded, request), time.perf_counter() - start)
    return results


def runner(result, threads: int):
    options = RunnerOptions(threads=threads, precision=result.manifest.precision)
    return open_runner("openvino", result.artifact, result.manifest.input, options)


def latency(args, out: Path) -> tuple[dict, dict]:
    timing = TimingConfig(warmup_iters=10, warmup_s=1.0, min_iters=30, min_s=args.min_time)
    cells, export_s = {}, {}
    for name in MODELS:
        loaded = load_model(name, SourceOptions(num_classes=1000))
        sample = prepare(load_dataset("digits", limit=1).images, loaded.spec)
        for label, (result, seconds) in export_cells(loaded, out / name).items():
            cells[(name, label)] = p50_call(runner(result, args.threads), sample, timing)
            export_s[(name, label)] = seconds
    return interleaved_rounds(cells, args.rounds), export_s


def accuracy(out: Path) -> dict:
    data = load_dataset("digits", "test")
    top1 = {}
    for name in DEMOS:
        loaded = load_trained(name)
        x = prepare(data.images, loaded.spec)
        for label, (result, _) in export_cells(loaded, out / name).items():
            with runner(result, 2) as r:
                top1[(name, label)] = float(np.mean(r.infer(x).argmax(1) == data.labels))
    return top1


def main() -> None:
    args = rounds_parser(__doc__, rounds=5).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        top1 = accuracy(Path(tmp) / "demo")
        p50, export_s = latency(args, Path(tmp) / "224")
    versions = library_versions()
    print("### OpenVINO IR INT8 vs Q/DQ ONNX INT8 on OpenVINO, batch 1, 224x224\n")
    print(f"Command: `python {' '.join(sys.argv)}`  ")
    print(f"CPU: {describe()}, {args.threads} threads  ")
    print(
        f"openvino {versions.get('openvino')}, nncf {versions.get('nncf')}, "
        f"onnxruntime {versions.get('onnxruntime')}; load average at the end: "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}\n"
    )
    print(
        "| model | artifact (all on OpenVINO) | p50 ms | speed-up vs Q/DQ ONNX | export s "
        "| per-round p50s |"
    )
    print("|---|---|---:|---:|---:|---|")
    for name in MODELS:
        base = p50[(name, "Q/DQ ONNX INT8")]
        for label in CELLS:
            ms = p50[(name, label)]
            speedup = statistics.median(b / v for b, v in zip(base, ms, strict=True))
            print(
                f"| {name} | {label} | {statistics.median(ms):.2f} | {speedup:.2f}x | "
                f"{export_s[(name, label)]:.0f} | {', '.join(f'{v:.2f}' for v in ms)} |"
            )
    print(
        f"\np50: median of {args.rounds} interleaved rounds, each cell timed for at least "
        f"{args.min_time} s; speed-up: median over rounds of the Q/DQ ONNX p50 / this cell's "
        "p50 in the same round (> 1: faster than the Q/DQ ONNX file).\n"
    )
    print("| digits-trained model | " + " | ".join(CELLS) + " |")
    print("|---|" + "---:|" * len(CELLS))
    for name in DEMOS:
        print(f"| {name} | " + " | ".join(f"{top1[(name, c)]:.1%}" for c in CELLS) + " |")


if __name__ == "__main__":
    main()
