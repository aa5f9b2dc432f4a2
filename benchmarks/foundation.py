"""Batch-1 latency at 224x224: torch eager vs ONNX Runtime FP32, measured in one run.

Usage: python benchmarks/foundation.py [--threads 2] [--rounds 3] > benchmarks/results/foundation.md

Each round measures every (model, backend) once, interleaved, so machine noise
hits all cells alike; the table reports the median over rounds and the ratio.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from rounds_args import rounds_parser

from deploykit.bench.timing import TimingConfig, interleaved_rounds, p50_call
from deploykit.data import load_dataset, prepare
from deploykit.export import ExportRequest, export_model
from deploykit.host import describe
from deploykit.runners import RunnerOptions, open_runner
from deploykit.sources import SourceOptions, load_model

MODELS = ("resnet18", "mobilenet_v2")


def main() -> None:
    args = rounds_parser(__doc__, min_time=3.0).parse_args()
    timing = TimingConfig(warmup_iters=10, warmup_s=1.0, min_iters=50, min_s=args.min_time)
    options = RunnerOptions(threads=args.threads)
    out = Path(tempfile.mkdtemp())
    runners = {}
    for name in MODELS:
        loaded = load_model(name, SourceOptions(num_classes=1000))
        onnx = export_model(loaded, ExportRequest(out_dir=out, verify_samples=8)).artifact
        sample = prepare(load_dataset("digits", limit=1).images, loaded.spec)
        runners[(name, "torch eager")] = (
            open_runner("torch", loaded.model, loaded.spec, options),
            sample,
        )
        runners[(name, "onnxruntime")] = (
            open_runner("onnxruntime", onnx, loaded.spec, options),
            sample,
        )
    p50 = interleaved_rounds(
        {key: p50_call(runner, sample, timing) for key, (runner, sample) in runners.items()},
        args.rounds,
    )
    print(f"### torch eager vs ONNX Runtime FP32, batch 1, 224x224, {args.threads} threads\n")
    print(
        f"Command: `python benchmarks/foundation.py --threads {args.threads} --rounds {args.rounds}`  "
    )
    print(f"CPU: {describe()}\n")
    print("| model | torch eager p50 ms | ONNX Runtime p50 ms | ORT speed-up |")
    print("|---|---:|---:|---:|")
    for name in MODELS:
        eager = statistics.median(p50[(name, "torch eager")])
        ort = statistics.median(p50[(name, "onnxruntime")])
        print(f"| {name} | {eager:.2f} | {ort:.2f} | {eager / ort:.2f}x |")
    print(
        f"\nMedian of {args.rounds} interleaved rounds; each round times every cell for at least "
        f"{args.min_time} s. Per-round p50s: "
        + "; ".join(
            f"{k[0]}/{k[1]}: {', '.join(f'{v:.2f}' for v in vals)}" for k, vals in p50.items()
        )
    )


if __name__ == "__main__":
    main()
