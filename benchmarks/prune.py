"""Structured pruning at 50 % channels: MACs and ONNX Runtime latency, and top-1 on digits.

Usage: python benchmarks/prune.py [--threads 2] [--rounds 3] [--epochs 20] [--distill 0 0.5]
       [--digits-only] > benchmarks/results/prune.md

Part 1, 224x224 batch 1: resnet18, resnet50, mobilenet_v2 and vgg16 (random weights,
1000 classes) before and after ``--ratio 0.5`` (L1, uniform): MACs ratio and ONNX
Runtime latency ratio; the unpruned models also in torch eager, and resnet18
pruned + INT8 (when ``deploykit export --precision int8`` is available).
Part 2: the digits-trained demo models: top-1 before, right after pruning, after
fine-tuning. Latencies are medians over interleaved rounds, so machine noise
hits every cell alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rounds_args import rounds_parser

from deploykit.bench.timing import TimingConfig, interleaved_rounds, p50_call
from deploykit.data import load_dataset, prepare
from deploykit.host import describe
from deploykit.prune import PruneConfig, prune, save
from deploykit.prune.targets import export_onnx
from deploykit.runners import RunnerOptions, open_runner
from deploykit.sources import SourceOptions, load_model
from deploykit.zoo.trained import load_trained

MODELS = ("resnet18", "resnet50", "mobilenet_v2", "vgg16")
DEMOS = ("demo_resnet", "demo_mobilenet_v2")


def int8_artifact(pt2: Path, folder: Path) -> Path | None:
    """The pruned model as a Q/DQ INT8 ONNX file calibrated on 64 digits images, if possible."""
    if importlib.util.find_spec("deploykit.export.onnx_precision") is None:
        return None
    calib = folder / "calib.npz"
    subprocess.run(
        [sys.executable, "-m", "deploykit", "calibrate", "digits", "--samples", "64", "-o", calib],
        check=True,
        capture_output=True,
    )
    from deploykit.export import ExportRequest, export_model

    request = ExportRequest(
        precision="int8", calib=calib, out_dir=folder / "int8", verify_samples=16
    )
    return export_model(str(pt2), request).artifact


def latency_rows(args: argparse.Namespace, folder: Path) -> list[str]:
    timing = TimingConfig(warmup_iters=10, warmup_s=1.0, min_iters=30, min_s=args.min_time)
    options = RunnerOptions(threads=args.threads)
    cells, facts = {}, {}
    for name in MODELS:
        loaded = load_model(name, SourceOptions(num_classes=1000))
        sample = prepare(load_dataset("digits", limit=1).images, loaded.spec)
        before = export_onnx(loaded.model, loaded.spec, folder / f"{name}.onnx")
        cells[(name, "eager")] = (open_runner("torch", loaded.model, loaded.spec, options), sample)
        cells[(name, "ort")] = (open_runner("onnxruntime", before, loaded.spec, options), sample)
        result = prune(loaded, PruneConfig(ratio=0.5, measure_latency=False))
        after = export_onnx(result.model, result.spec, folder / f"{name}-p50.onnx")
        cells[(name, "ort-p50")] = (open_runner("onnxruntime", after, result.spec, options), sample)
        facts[name] = result.report.ratios()
        if name == "resnet18":
            pt2 = save(result, folder / "resnet18-p50.pt2")
            int8 = int8_artifact(pt2, folder)
            if int8 is not None:
                int8_options = RunnerOptions(threads=args.threads, precision="int8")
                cells[(name, "ort-p50-int8")] = (
                    open_runner("onnxruntime", int8, result.spec, int8_options),
                    sample,
                )
                if importlib.util.find_spec("openvino") is not None:
                    cells[(name, "ov-p50-int8")] = (
                        open_runner("openvino", int8, result.spec, int8_options),
                        sample,
                    )
    p50 = interleaved_rounds(
        {key: p50_call(runner, sample, timing) for key, (runner, sample) in cells.items()},
        args.rounds,
    )
    ms = {key: statistics.median(v) for key, v in p50.items()}
    rows = [
        "| model | MACs ratio | params ratio | torch eager ms | ORT ms | ORT pruned ms | ORT speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in MODELS:
        r = facts[name]
        rows.append(
            f"| {name} | {r['macs']:.3f} | {r['params']:.3f} | {ms[(name, 'eager')]:.2f} | "
            f"{ms[(name, 'ort')]:.2f} | {ms[(name, 'ort-p50')]:.2f} | "
            f"{ms[(name, 'ort')] / ms[(name, 'ort-p50')]:.2f}x |"
        )
    eager = ms[("resnet18", "eager")]
    rows.append("")
    rows.append("| resnet18 variant | p50 ms | speed-up vs unpruned torch eager |")
    rows.append("|---|---:|---:|")
    labels = {
        "eager": "unpruned, torch eager FP32",
        "ort": "unpruned, ONNX Runtime FP32",
        "ort-p50": "pruned 50 %, ONNX Runtime FP32",
        "ort-p50-int8": "pruned 50 % + INT8 (Q/DQ), ONNX Runtime",
        "ov-p50-int8": "pruned 50 % + INT8 (Q/DQ), OpenVINO",
    }
    for key, label in labels.items():
        if ("resnet18", key) in ms:
            rows.append(
                f"| {label} | {ms[('resnet18', key)]:.2f} | {eager / ms[('resnet18', key)]:.2f}x |"
            )
    if ("resnet18", "ort-p50-int8") not in ms:
        rows.append("| pruned + INT8 | not measured: INT8 export not available | |")
    return rows


def digits_rows(args: argparse.Namespace) -> list[str]:
    rows = [
        f"| model | distill | top-1 before | after pruning 50 % | after fine-tuning ({args.epochs} epochs) "
        "| change | prune + fine-tune s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in DEMOS:
        for distill in args.distill:
            config = PruneConfig(
                ratio=0.5,
                finetune="digits",
                epochs=args.epochs,
                distill=distill,
                measure_latency=False,
                threads=args.threads,
            )
            start = time.perf_counter()
            report = prune(load_trained(name), config).report
            seconds = time.perf_counter() - start
            before, after = report.before.top1, report.after.top1
            rows.append(
                f"| {name} | {distill:g} | {before:.1%} | {report.top1_pruned:.1%} | {after:.1%} | "
                f"{100 * (after - before):+.1f} pts | {seconds:.0f} |"
            )
    return rows


def main() -> None:
    parser = rounds_parser(__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--distill", type=float, nargs="+", default=[0.0], help="distillation weights to compare"
    )
    parser.add_argument("--digits-only", action="store_true", help="skip the 224 latency table")
    args = parser.parse_args()
    latency = []
    if not args.digits_only:
        with tempfile.TemporaryDirectory() as tmp:
            latency = latency_rows(args, Path(tmp))
    digits = digits_rows(args)
    print("### Structured pruning (50 % channels, L1, uniform), batch 1\n")
    print(
        f"Command: `python benchmarks/prune.py --threads {args.threads} --rounds {args.rounds} "
        f"--min-time {args.min_time} --epochs {args.epochs} "
        f"--distill {' '.join(f'{d:g}' for d in args.distill)}"
        f"{' --digits-only' if args.digits_only else ''}`  "
    )
    print(f"CPU: {describe()}\n")
    if latency:
        print("#### 224x224, random weights, 1000 classes\n")
        print("\n".join(latency))
        print(
            f"\nLatency: median over {args.rounds} interleaved rounds of each cell's p50 "
            f"(each round at least {args.min_time} s), {args.threads} threads.\n"
        )
    print("#### Digits-trained demo models (32x32, 10 classes), digits test split (400 images)\n")
    print("\n".join(digits))


if __name__ == "__main__":
    main()
