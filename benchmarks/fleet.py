"""Fleet scheduling on a loopback Ray cluster: overhead per cell, and one vs two device nodes.

Usage: python benchmarks/fleet.py [--rounds 3] [--batches 20] > benchmarks/results/fleet.md

One ONNX artifact (demo_resnet, 32x32) on onnxruntime and openvino at batch sizes
1..N gives 2N cells, each timed on 1 thread. Each round runs, interleaved so machine
noise hits all alike: the cells locally (``run_bench``, isolated worker per (item,
backend)); locally as two halves side by side (two run_bench calls at once, odd and
even batch sizes: what this machine's cores allow two devices at best); on a pool of
one device node; and on a pool of two (``pool=dev-*``: each group split in two
shards, one per device). Overhead per cell = (fleet wall - local wall) / cells on one
device; speed-up = one-device wall / two-device wall. Beside each wall time: how busy
the machine's CPUs were (from /proc/stat) and the load average before the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from deploykit.bench import BenchConfig, TimingConfig, run_bench
from deploykit.bench.environment import cpu_info
from deploykit.export import ExportRequest, export_model
from deploykit.fleet.local import LocalCluster
from deploykit.fleet.request import FleetRequest
from deploykit.zoo.trained import load_trained

TIMING = TimingConfig(warmup_iters=3, warmup_s=0.0, min_iters=20, min_s=0.2, max_s=1.0)


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def timed(run) -> tuple[float, float, float, int]:
    """Run ``run()``; (wall s, CPU busy fraction, 1-min load before, cells ok)."""
    load = os.getloadavg()[0]
    busy0, total0 = cpu_times()
    began = time.perf_counter()
    ok = run()
    wall = time.perf_counter() - began
    busy1, total1 = cpu_times()
    return wall, (busy1 - busy0) / max(total1 - total0, 1), load, ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
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
    names = ("local", "local, two halves at once", "one device", "two devices")
    walls: dict[str, list[float]] = {n: [] for n in names}
    busy: dict[str, list[float]] = {n: [] for n in names}
    loads: dict[str, list[float]] = {n: [] for n in names}
    cells: dict[str, int] = {}

    def ok(run) -> int:
        return sum(c.status == "ok" for c in run.cells)

    def halves() -> int:
        batches = config.batch_sizes
        parts = [replace(config, batch_sizes=batches[k::2]) for k in range(2)]
        with ThreadPoolExecutor(2) as pool:
            return sum(pool.map(lambda c: ok(run_bench([str(onnx)], c)), parts))

    try:
        cluster.start_head()
        cluster.add_devices("dev-a", "dev-b")
        pools = {
            "one device": FleetRequest(cluster.client, ("pool=dev-a",)),
            "two devices": FleetRequest(cluster.client, ("pool=dev-*",)),
        }
        runs = {
            "local": lambda: ok(run_bench([str(onnx)], config)),
            "local, two halves at once": halves,
            **{
                name: (lambda fleet=fleet: ok(run_bench([str(onnx)], config, fleet=fleet)))
                for name, fleet in pools.items()
            },
        }
        for _ in range(args.rounds):
            for name, run in runs.items():
                wall, cpu, load, cells[name] = timed(run)
                walls[name].append(wall)
                busy[name].append(cpu)
                loads[name].append(load)
                print(f"{name} {wall:.1f} s, CPU {cpu:.0%}, load {load:.1f}", file=sys.stderr)
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
    print("| run | cells ok | wall s (median) | rounds: wall s | CPU busy | load before | s/cell |")
    print("|---|---:|---:|---|---|---|---:|")
    for name, values in walls.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        cpu = ", ".join(f"{v:.0%}" for v in busy[name])
        load = ", ".join(f"{v:.1f}" for v in loads[name])
        print(
            f"| {name} | {cells[name]}/{total} | {median[name]:.1f} | {rounds} | {cpu} | {load} "
            f"| {median[name] / total:.2f} |"
        )
    overhead = (median["one device"] - median["local"]) / total
    print(
        f"\nScheduling overhead per cell (one device vs local): {overhead:.2f} s; "
        f"two devices vs one: {median['one device'] / median['two devices']:.2f}x faster; "
        f"the same cells as two local halves at once vs one local run: "
        f"{median['local'] / median['local, two halves at once']:.2f}x (this machine's ceiling)."
    )


if __name__ == "__main__":
    main()
