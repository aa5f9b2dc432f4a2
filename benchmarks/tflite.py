"""TFLite FP32/FP16/INT8 in LiteRT vs ONNX Runtime FP32, batch 1, 224x224, plus digits accuracy.

Usage: python benchmarks/tflite.py [--threads 2] [--rounds 3] > benchmarks/results/tflite.md

Latency: torchvision mobilenet_v2 and resnet18 (untrained: no weights are
downloaded; speed does not depend on them), exported through the same
``export_model`` calls the CLI makes. INT8 is full-integer with float I/O,
calibrated on 64 digits images. Rounds are interleaved so machine noise hits all
cells alike; the table reports the median p50 over rounds.
Accuracy: the digits-trained demo models, top-1 on the 400 test images.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np
from rounds_args import rounds_parser

from deploykit.bench.timing import TimingConfig, interleaved_rounds, p50_call
from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.export import ExportRequest, export_model
from deploykit.host import describe
from deploykit.metrics import fidelity
from deploykit.runners import RunnerOptions, open_runner
from deploykit.sources import SourceOptions, load_model
from deploykit.zoo.trained import load_trained

MODELS = ("mobilenet_v2", "resnet18")
DEMOS = ("demo_resnet", "demo_mobilenet_v2")
# (label, target, precision, backend)
CELLS = (
    ("ONNX Runtime FP32", "onnx", "fp32", "onnxruntime"),
    ("TFLite FP32", "tflite", "fp32", "litert"),
    ("TFLite FP16", "tflite", "fp16", "litert"),
    ("TFLite INT8", "tflite", "int8", "litert"),
)


class Steps:
    """Progress on stderr (stdout is the Markdown): the step at hand, ``done/total``, time left."""

    def __init__(self, live, total: int) -> None:
        self.live, self.total, self.done = live, total, 0

    def start(self, text: str) -> None:
        self.live.say(text)
        self.live.count(self.done, self.total, "steps")

    def finish(self) -> None:
        self.done += 1
        self.live.count(self.done, self.total, "steps")


def export_cells(loaded, out: Path, calib: Path, verify: bool, steps: Steps) -> dict:
    """Every cell's artifact for one model: label -> (path, spec, backend, precision)."""
    artifacts = {}
    for label, target, precision, backend in CELLS:
        steps.start(f"exporting {loaded.name} to {label}")
        request = ExportRequest(
            target=target,
            precision=precision,
            out_dir=out,
            calib=calib,
            verify=verify or precision == "fp32",
            verify_samples=16,
        )
        result = export_model(loaded, request)
        artifacts[label] = (result.artifact, result.manifest.input, backend, precision)
        steps.finish()
    return artifacts


def latency(args, out: Path, calib: Path, steps: Steps) -> tuple[dict, dict, dict]:
    timing = TimingConfig(warmup_iters=10, warmup_s=1.0, min_iters=50, min_s=args.min_time)
    runners, sizes, cosine = {}, {}, {}
    for name in MODELS:
        loaded = load_model(name, SourceOptions(num_classes=1000))
        # Untrained logits are near-ties: reduced precisions are timed, their cosine reported.
        cells = export_cells(loaded, out / name, calib, verify=False, steps=steps)
        sample = prepare(load_dataset("digits", limit=1).images, loaded.spec)
        check = prepare(load_dataset("digits", limit=16).images, loaded.spec)
        reference = None
        for label, (path, spec, backend, precision) in cells.items():
            options = RunnerOptions(threads=args.threads, precision=precision)
            runner = open_runner(backend, path, spec, options)
            logits = runner.infer(check)
            reference = logits if reference is None else reference
            cosine[(name, label)] = fidelity(reference, logits).cosine
            runners[(name, label)] = (runner, sample)
            sizes[(name, label)] = path.stat().st_size / 2**20
    steps.start(f"timing {len(runners)} cells, {args.rounds} interleaved rounds")
    p50 = interleaved_rounds(
        {key: p50_call(runner, sample, timing) for key, (runner, sample) in runners.items()},
        args.rounds,
    )
    steps.finish()
    return p50, sizes, cosine


def accuracy(out: Path, calib: Path, steps: Steps) -> dict:
    data = load_dataset("digits")
    top1 = {}
    for name in DEMOS:
        loaded = load_trained(name)
        x = prepare(data.images, loaded.spec)
        with open_runner("torch", loaded.model, loaded.spec) as runner:
            top1[(name, "torch FP32")] = float(np.mean(runner.infer(x).argmax(1) == data.labels))
        for label, (path, spec, backend, precision) in export_cells(
            loaded, out / name, calib, verify=True, steps=steps
        ).items():
            with open_runner(backend, path, spec, RunnerOptions(precision=precision)) as runner:
                top1[(name, label)] = float(np.mean(runner.infer(x).argmax(1) == data.labels))
    return top1


def main() -> None:
    args = rounds_parser(__doc__).parse_args()
    out = Path(tempfile.mkdtemp())
    calib = make_calibration_set("digits", 64, 0, out / "digits-64.npz")
    labels = [c[0] for c in CELLS]
    command = f"python benchmarks/tflite.py --threads {args.threads} --rounds {args.rounds}"
    print(f"### TFLite (LiteRT) vs ONNX Runtime, batch 1, 224x224, {args.threads} threads\n")
    print(f"Command: `{command}`  ")
    print(f"CPU: {describe()}\n")

    from rich.console import Console

    from deploykit.progress import live_steps

    total = len(CELLS) * (len(DEMOS) + len(MODELS)) + 1  # exports, then the timing rounds
    with live_steps(Console(stderr=True), "tflite benchmark") as live:
        steps = Steps(live, total)
        top1 = accuracy(out, calib, steps)
        p50, sizes, cosine = latency(args, out, calib, steps)
    print("#### Top-1 on digits (400 test images), digits-trained demo models\n")
    columns = ["torch FP32", *labels]
    print("| model | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name in DEMOS:
        print(f"| {name} | " + " | ".join(f"{top1[(name, c)]:.1%}" for c in columns) + " |")
    print(flush=True)

    print("#### Latency, mobilenet_v2 and resnet18 at 224x224\n")
    print("| model | " + " | ".join(f"{label} p50 ms" for label in labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for name in MODELS:
        cells = [f"{statistics.median(p50[(name, label)]):.2f}" for label in labels]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n| model | " + " | ".join(f"{label} MiB / cosine" for label in labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for name in MODELS:
        cells = [f"{sizes[(name, label)]:.1f} / {cosine[(name, label)]:.4f}" for label in labels]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(
        f"\nMedian p50 of {args.rounds} interleaved rounds, each cell timed for at least "
        f"{args.min_time} s. Cosine: logits against ONNX Runtime FP32 on 16 digits images "
        "(untrained weights, so top-1 is not meaningful here). INT8: full integer, float I/O, "
        "64 calibration images."
    )
    rounds = "; ".join(
        f"{k[0]}/{k[1]}: {', '.join(f'{v:.2f}' for v in vals)}" for k, vals in p50.items()
    )
    print(f"\nPer-round p50s: {rounds}")


if __name__ == "__main__":
    main()
