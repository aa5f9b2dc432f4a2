"""Harness overhead: deploykit's measured latency against a bare ``session.run`` loop.

Both time the same ONNX Runtime session on the same input in this process, in
interleaved trials (bare, harness, harness, bare, ...: ``interleaved_rounds``) so load from other
processes hits both alike; the figure is the median over trials of
harness p50 / bare p50. Prints a Markdown section.

    python benchmarks/overhead.py [MODEL.onnx] [--trials 15] [--batch 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def bare_p50(session, name: str, x: np.ndarray, seconds: float) -> float:
    """Median of a plain ``session.run`` loop, in ms (after a short warm-up)."""
    for _ in range(20):
        session.run(None, {name: x})
    samples, begin = [], time.perf_counter()
    while time.perf_counter() - begin < seconds:
        t0 = time.perf_counter()
        session.run(None, {name: x})
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e3


def model_file(path: str | None) -> Path:
    if path:
        return Path(path)
    from deploykit.bench.subjects import load_source
    from deploykit.export import ExportRequest, export_model
    from deploykit.sources import SourceOptions

    out = Path(tempfile.mkdtemp(prefix="deploykit-overhead-"))
    loaded = load_source("demo_resnet", SourceOptions(num_classes=10))
    return export_model(loaded, ExportRequest(out_dir=out, verify=False)).artifact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="ONNX file with a manifest (default: demo_resnet)")
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument(
        "--seconds", type=float, default=0.5, help="timed seconds per trial and side"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from deploykit.bench.timing import TimingConfig, interleaved_rounds, p50_call
    from deploykit.host import describe
    from deploykit.manifest import read_manifest
    from deploykit.runners import RunnerOptions, open_runner

    path = model_file(args.model)
    spec = read_manifest(path).input
    x = np.random.default_rng(0).random((args.batch, *spec.nchw[1:]), dtype=np.float32)
    timing = TimingConfig(warmup_iters=20, warmup_s=0.0, min_iters=1, min_s=args.seconds, max_s=60)
    with open_runner("onnxruntime", path, spec, RunnerOptions(threads=args.threads)) as runner:
        session, name = runner._session, runner._input  # the very session the harness times
        trials = interleaved_rounds(
            {
                "bare": lambda: bare_p50(session, name, x, args.seconds),
                "harness": p50_call(runner, x, timing),
            },
            args.trials,
        )
    bares, ours = trials["bare"], trials["harness"]
    ratios = [h / b for h, b in zip(ours, bares, strict=True)]
    ratio = statistics.median(ratios)
    print("### Harness overhead\n")
    print(
        f"`python benchmarks/overhead.py --trials {args.trials} --batch {args.batch} "
        f"--threads {args.threads}` on {describe()}, Python {platform.python_version()}.\n"
    )
    print(
        "| model | batch | bare `session.run` p50 ms | `deploykit bench` p50 ms | median ratio | "
        "ratio range |"
    )
    print("|---|--:|--:|--:|--:|--:|")
    print(
        f"| {path.name} | {args.batch} | {statistics.median(bares):.4f} | "
        f"{statistics.median(ours):.4f} | {ratio:.3f} | {min(ratios):.3f}-{max(ratios):.3f} |"
    )
    verdict = "within" if abs(ratio - 1) <= 0.03 else "NOT within"
    print(
        f"\nThe harness measures {verdict} 3 % of a bare loop ({(ratio - 1) * 100:+.1f} %, "
        f"median of {args.trials} interleaved trials)."
    )


if __name__ == "__main__":
    main()
