"""Fleet scheduling on a loopback Ray cluster: overhead per cell, and one vs two device nodes.

Usage: python benchmarks/fleet.py [--rounds 2] [--batches 20] > benchmarks/results/fleet.md

One ONNX artifact (demo_resnet, 32x32) on onnxruntime and openvino at batch sizes
1..N gives 2N cells. Each round runs, interleaved so machine noise hits all alike:
the cells locally (``run_bench``, isolated worker per (item, backend)), on a pool of
one device node, and on a pool of two (``pool=dev-*``: each cell once, on whichever
device is free). Overhead per cell = (fleet wall - local wall) / cells on one device;
speed-up = one-device wall / two-device wall.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deploykit.bench import BenchConfig, TimingConfig, run_bench
from deploykit.bench.environment import cpu_info
from deploykit.export import ExportRequest, export_model
from deploykit.fleet.local import LocalCluster
from deploykit.fleet.request import FleetRequest
from deploykit.zoo.trained import load_trained

TIMING = TimingConfig(warmup_iters=3, warmup_s=0.0, min_iters=20, min_s=0.2, max_s=1.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="deploykit-fleet-bench-"))
    onnx = export_model(
        load_trained("demo_resnet"), ExportRequest(target="onnx", out_dir=folder / "onnx")
    ).artifact
    config = BenchConfig(
        backends=("onnxruntime", "openvino"),
        batch_sizes=tuple(range(1, args.batches + 1)),
        timing=TIMING,
        threads=1,
        limit=100,
    )
    cluster = LocalCluster(folder)
    walls: dict[str, list[float]] = {"local": [], "one device": [], "two devices": []}
    cells: dict[str, int] = {}
    try:
        cluster.start_head()
        cluster.add_devices("dev-a", "dev-b")
        pools = {
            "one device": FleetRequest(cluster.client, ("pool=dev-a",)),
            "two devices": FleetRequest(cluster.client, ("pool=dev-*",)),
        }
        for _ in range(args.rounds):
            began = time.perf_counter()
            run = run_bench([str(onnx)], config)
            walls["local"].append(time.perf_counter() - began)
            cells["local"] = sum(c.status == "ok" for c in run.cells)
            print(f"local {walls['local'][-1]:.1f} s", file=sys.stderr, flush=True)
            for name, fleet in pools.items():
                began = time.perf_counter()
                run = run_bench([str(onnx)], config, fleet=fleet)
                walls[name].append(time.perf_counter() - began)
                cells[name] = sum(c.status == "ok" for c in run.cells)
                print(f"{name} {walls[name][-1]:.1f} s", file=sys.stderr, flush=True)
    finally:
        cluster.stop()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    cpu = cpu_info()
    total = 2 * args.batches
    median = {k: statistics.median(v) for k, v in walls.items()}
    print("### Fleet: scheduling overhead and one vs two device nodes (loopback cluster)\n")
    print(
        f"Command: `python benchmarks/fleet.py --rounds {args.rounds} --batches {args.batches}`  "
    )
    print(f"CPU: {cpu['model']}, {cpu['logical_cores']} cores, flags: {' '.join(cpu['flags'])}  ")
    print(f"Load after the run: `{load}`\n")
    print("| run | cells ok | wall s per round (median) | rounds | s per cell |")
    print("|---|---:|---:|---|---:|")
    for name, values in walls.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(
            f"| {name} | {cells[name]}/{total} | {median[name]:.1f} | {rounds} | "
            f"{median[name] / total:.2f} |"
        )
    overhead = (median["one device"] - median["local"]) / total
    print(
        f"\nScheduling overhead per cell (one device vs local): {overhead:.2f} s; "
        f"two devices vs one: {median['one device'] / median['two devices']:.2f}x faster."
    )


if __name__ == "__main__":
    main()
