"""Zoo benchmark: ONNX Runtime latency of deploykit's zoo models, FP32 and INT8, at 224x224.

Every standard (non-digits) zoo model is built with random weights, exported to
ONNX FP32 at batch 1 x 3 x 224 x 224 and to INT8 Q/DQ (calibrated on the shipped
digits set; only speed is measured, so random weights are fine), then timed in
ONNX Runtime on the CPU. Prints a Markdown section.

    python benchmarks/zoo.py [--models mobilenet_v1,xception] [--threads 2] [--seconds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deploykit.bench.timing import TimingConfig, measure_runner
from deploykit.errors import DeployKitError
from deploykit.export import ExportRequest, export_model
from deploykit.host import describe
from deploykit.runners import RunnerOptions, open_runner
from deploykit.sources import SourceOptions, load_model
from deploykit.zoo import list_models

CALIB = Path(__file__).resolve().parents[1] / "calibration" / "digits-256.npz"
SIZE = 224


def zoo_names() -> list[str]:
    """Standard-size zoo models (not the digits variants or the demo nets)."""
    return [
        e.name
        for e in list_models()
        if e.origin == "deploykit" and e.input_size > 32 and not e.name.startswith("demo")
    ]


def latency_ms(path: Path, spec, precision: str, threads: int, seconds: float) -> float:
    options = RunnerOptions(threads=threads, precision=precision)
    config = TimingConfig(warmup_iters=3, warmup_s=0.3, min_iters=10, min_s=seconds)
    with open_runner("onnxruntime", path, spec, options) as runner:
        x = np.random.default_rng(0).random(spec.with_batch(1).nchw, dtype=np.float32)
        return measure_runner(runner, x, config).p50_ms


def row(name: str, work: Path, args) -> str:
    loaded = load_model(name, SourceOptions(input_shape=(1, 3, SIZE, SIZE)))
    params = sum(p.numel() for p in loaded.model.parameters())
    cells = [name, f"{params / 1e6:.2f}"]
    t0 = time.perf_counter()
    fp32 = export_model(loaded, ExportRequest(out_dir=work, verify=False)).artifact
    cells.append(f"{fp32.stat().st_size / 2**20:.1f}")
    cells.append(f"{latency_ms(fp32, loaded.spec, 'fp32', args.threads, args.seconds):.2f}")
    try:
        request = ExportRequest(precision="int8", calib=CALIB, out_dir=work, verify=False)
        int8 = export_model(str(fp32), request).artifact
        cells.append(f"{int8.stat().st_size / 2**20:.1f}")
        cells.append(f"{latency_ms(int8, loaded.spec, 'int8', args.threads, args.seconds):.2f}")
    except (DeployKitError, ImportError, RuntimeError) as exc:  # one failure keeps the table
        cells += ["-", f"INT8 failed: {str(exc).splitlines()[0][:60]}"]
    cells.append(f"{time.perf_counter() - t0:.0f}")
    for path in work.iterdir():
        path.unlink()
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(zoo_names()))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"## Zoo models: ONNX Runtime latency at 1x3x{SIZE}x{SIZE} (batch 1)\n")
    print(f"Command: `python benchmarks/zoo.py --threads {args.threads} --seconds {args.seconds}`")
    print(f"CPU: {describe()}, Python {sys.version.split()[0]},")
    print(f"{args.threads} ORT intra-op threads; p50 of at least 10 runs and {args.seconds} s.\n")
    print(
        "| model | params (M) | FP32 MiB | FP32 p50 ms | INT8 MiB | INT8 p50 ms | export+time s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            try:
                print(row(name.strip(), Path(tmp), args), flush=True)
            except Exception as exc:  # one failing model must not end the table
                print(f"| {name} | failed: {str(exc).splitlines()[0][:80]} ||||||", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
