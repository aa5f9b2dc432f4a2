"""Latency ratios of one task's ONNX artifacts on every CPU backend, in interleaved rounds.

The issue-14 task (README "A whole task") benches its artifacts with `deploykit bench`, which
times one cell after another; on a shared, loaded machine those figures drift between cells.
This script opens every (artifact, CPU backend that runs ONNX) pair once and times them all in
interleaved rounds (`deploykit.bench.timing.interleaved_rounds`, batch 1, one real image of
DATA), then reports each artifact's p50 divided by the first artifact's (the FP32 reference)
on the same backend (above 1: slower): the median of the per-round ratios, with their range.

    python benchmarks/user_task.py out/mnv3.onnx out/mnv3_int8.onnx \
        out/mnv3_int8_activations-uint8.onnx --data digits-png [--rounds 7] [--min-time 1]
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from peers import Cell, runner_cell, time_cells  # benchmarks/, beside this script
from rounds_args import rounds_parser

from deploykit.bench.subjects import default_backends
from deploykit.data import load_dataset, prepare
from deploykit.host import cpu_isa, cpu_model
from deploykit.manifest import read_manifest


def main() -> None:
    parser = rounds_parser(__doc__, rounds=7, min_time=1.0)
    parser.add_argument("artifacts", nargs="+", help="ONNX files; the first is the reference")
    parser.add_argument("--data", default="digits", help="images the timed input comes from")
    args = parser.parse_args()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"CPU: {cpu_model()} ({', '.join(cpu_isa())}); threads {args.threads}  ")
    print(f"Load average at the start: {load}  ")
    image = load_dataset(args.data, split="test", limit=1).images
    cells: dict[tuple[str, str], Cell] = {}
    for artifact in map(Path, args.artifacts):
        manifest = read_manifest(artifact)
        if manifest is None:
            raise SystemExit(f"{artifact} has no manifest: export it with deploykit")
        for backend in default_backends("onnx"):
            label = f"{artifact.name} on {backend}"
            cell, _ = runner_cell(
                label,
                backend,
                artifact,
                manifest.input.with_batch(1),
                manifest.precision,
                args.threads,
            )
            cells[(artifact.name, backend)] = cell
    spec = read_manifest(Path(args.artifacts[0])).input.with_batch(1)
    time_cells(list(cells.values()), prepare(image, spec), args.rounds, args.min_time)
    reference = Path(args.artifacts[0]).name
    print(f"\n| artifact | backend | p50 ms (median of {args.rounds} rounds) | p50 / FP32's p50 on "
          "the same backend (>1: slower; median of per-round ratios, range) | note |")  # fmt: skip
    print("|---|---|---|---|---|")
    for (name, backend), cell in cells.items():
        ref = cells[(reference, backend)]
        ratios = [a / b for a, b in zip(cell.rounds, ref.rounds, strict=True)]
        ratio = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        print(f"| {name} | {backend} | {cell.p50:.3f} | {ratio} | {cell.note} |")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nLoad average at the end: {load}")


if __name__ == "__main__":
    main()
