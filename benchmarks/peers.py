"""Peer benchmark: deploykit's default INT8 artifact against what a user would pick instead.

Times, in one process with interleaved rounds (every cell once per round, the
median of each round's per-call median reported), at batch 1:

- torch eager FP32; ONNX Runtime FP32; ONNX Runtime ``quantize_static`` with its defaults;
- OpenVINO FP32 with an f32 hint and with OpenVINO's own default (BF16 on BF16 CPUs);
- OpenVINO + NNCF INT8 (``nncf.quantize`` defaults);
- deploykit's default INT8 Q/DQ artifact on ONNX Runtime (activations re-encoded at load
  time: the default ``fast``, ``reencode=exact`` and ``reencode=false``) and on OpenVINO
  (default ``nonnegative`` and ``reencode=false``), and the ``placement=trt`` variant;
- TFLite INT8 on LiteRT, where the model converts (``--tflite``).

Every INT8 path calibrates on the same digits images. Models whose zoo entry is a
digits model (32x32, 10 classes) are trained on digits first (cached) and every cell's
top-1 on the digits test split is reported with a paired McNemar test against ORT FP32;
the others (resnet18, mobilenet_v2, ...) are random-weight and timed only.

    python benchmarks/peers.py resnet18,mobilenet_v2 [--rounds 7] [--seconds 1] [--threads 2]

The interleaved-rounds timing lives here until deploykit.bench.timing has one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deploykit.bench.timing import TimingConfig, interleaved_rounds, measure
from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.export import ExportRequest, export_model
from deploykit.host import cpu_isa, cpu_model
from deploykit.runners import RunnerOptions, open_runner

OURS = "deploykit INT8"


@dataclass
class Cell:
    """One timed configuration: ``call`` runs a prepared batch, ``prepare`` makes one."""

    label: str
    call: Callable[[np.ndarray], np.ndarray]
    prepare: Callable[[np.ndarray], np.ndarray] = lambda x: x
    rounds: list[float] = field(default_factory=list)
    top1: float | None = None
    note: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.rounds) if self.rounds else float("nan")


def time_cells(cells: list[Cell], x: np.ndarray, rounds: int, seconds: float) -> None:
    """Time every cell once per round with :func:`deploykit.bench.timing.interleaved_rounds`.

    Each round adds the cell's per-call median (ms) to ``cell.rounds``.
    """
    config = TimingConfig(warmup_iters=3, warmup_s=0.0, min_iters=5, min_s=seconds)
    calls = {}
    for index, cell in enumerate(cells):
        batch = cell.prepare(x)
        calls[index] = lambda c=cell, b=batch: measure(lambda: c.call(b), len(b), config).p50_ms
    for index, values in interleaved_rounds(calls, rounds).items():
        cells[index].rounds.extend(values)


def runner_cell(label: str, backend: str, model, spec, precision: str, threads: int, **extra):
    """A cell over a deploykit runner (opened now; closed with the process)."""
    options = RunnerOptions(threads=threads, precision=precision, extra=extra)
    runner = open_runner(backend, model, spec, options)
    notes = []
    if record := runner.info.details.get("activation_reencode"):
        notes.append(
            f"{record['mode']}: {record['pairs']} pairs re-encoded, {record['unsigned']} "
            f"with zero point 0, {record['dropped']} dropped"
            if record["ran"]
            else "as written"
        )
    if backend == "openvino":
        notes.append(f"ran as {runner.info.details['inference_precision']}")
    note = "; ".join(notes)
    return Cell(label, runner.run_prepared, runner.prepare_input, note=note), runner


def ort_defaults(pre: Path, dest: Path, calib_x: np.ndarray) -> Path:
    """ONNX Runtime's ``quantize_static`` with nothing but a data reader (its defaults)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    from deploykit.export.quantize import quiet_quantizer

    name = onnx.load(str(pre), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter(calib_x[:, None])

        def get_next(self):
            item = next(self._items, None)
            return None if item is None else {name: item}

    with quiet_quantizer():
        quantize_static(str(pre), str(dest), Reader())
    return dest


def build_cells(name: str, work: Path, calib: Path, args) -> tuple[list[Cell], object, bool]:
    """Export every artifact for ``name`` and open every cell; returns cells, spec, trained."""
    import torch
    from precision import nncf_model  # benchmarks/precision.py, beside this script

    from deploykit.export.quantize import preprocess
    from deploykit.sources import load_model
    from deploykit.zoo import get_entry
    from deploykit.zoo.trained import load_trained

    entry = get_entry(name)
    trained = entry.num_classes == 10 and entry.input_size == 32
    torch.manual_seed(0)
    loaded = load_trained(name) if trained else load_model(name)
    spec = loaded.spec.with_batch(1)
    t = args.threads
    torch.set_num_threads(t)
    fp32 = export_model(loaded, ExportRequest(out_dir=work, verify=False)).artifact
    int8 = ExportRequest(precision="int8", calib=calib, out_dir=work, verify=False)
    ours = export_model(str(fp32), int8).artifact
    trt_request = ExportRequest(
        precision="int8",
        calib=calib,
        out_dir=work,
        name=f"{name}_trt",
        verify=False,
        options={"placement": "trt"},
    )
    ours_trt = export_model(str(fp32), trt_request).artifact
    calib_x = prepare(np.load(calib)["x"], loaded.spec)
    ort_q = ort_defaults(preprocess(fp32, work / "pre.onnx"), work / "ort_default.onnx", calib_x)
    specs = [
        ("torch eager FP32", "torch", loaded.model, "fp32", {}),
        ("ORT FP32", "onnxruntime", fp32, "fp32", {}),
        ("ORT quantize_static defaults", "onnxruntime", ort_q, "int8", {"reencode": False}),
        ("OpenVINO FP32 (f32)", "openvino", fp32, "fp32", {}),
        ("OpenVINO FP32 (its default)", "openvino", fp32, "fp32", {"inference_precision": "auto"}),
        (f"{OURS} on ORT", "onnxruntime", ours, "int8", {}),
        (f"{OURS} on ORT, reencode=exact", "onnxruntime", ours, "int8", {"reencode": "exact"}),
        (f"{OURS} on ORT, reencode=false", "onnxruntime", ours, "int8", {"reencode": False}),
        (f"{OURS} on OpenVINO", "openvino", ours, "int8", {}),
        (f"{OURS} on OpenVINO, reencode=false", "openvino", ours, "int8", {"reencode": False}),
        (f"{OURS} placement=trt on ORT", "onnxruntime", ours_trt, "int8", {}),
        (f"{OURS} placement=trt on OpenVINO", "openvino", ours_trt, "int8", {}),
    ]
    cells = [runner_cell(label, b, m, spec, p, t, **e)[0] for label, b, m, p, e in specs]
    compiled, _ = nncf_model(fp32, calib_x, t)
    request = compiled.create_infer_request()
    hint = compiled.get_property("INFERENCE_PRECISION_HINT")
    cells.append(
        Cell(
            "OpenVINO + NNCF INT8 (defaults)",
            lambda a: request.infer({0: a})[0],
            note=f"ran as {getattr(hint, 'get_type_name', lambda: hint)()}",
        )
    )
    if args.tflite:
        try:
            tfl = ExportRequest(
                target="tflite", precision="int8", calib=calib, out_dir=work, verify=False
            )
            lite = export_model(loaded, tfl)
            cells.append(
                runner_cell(
                    "TFLite INT8 on LiteRT", "litert", lite.artifact, lite.manifest.input, "int8", t
                )[0]
            )
        except Exception as exc:  # a model onnx2tf cannot convert costs one row
            print(f"{name}: TFLite INT8 did not convert ({str(exc)[:120]})", file=sys.stderr)
    return cells, spec, trained


def accuracy(cells: list[Cell], spec, labels: np.ndarray, images: np.ndarray) -> dict[str, str]:
    """Top-1 of every cell on digits, one image at a time; paired test against ORT FP32."""
    from deploykit.bench.stats import paired

    x = prepare(images, spec)
    correct: dict[str, np.ndarray] = {}
    for cell in cells:
        logits = [np.asarray(cell.call(cell.prepare(x[i : i + 1]))) for i in range(len(x))]
        correct[cell.label] = np.concatenate(logits).reshape(len(x), -1).argmax(1) == labels
        cell.top1 = float(correct[cell.label].mean() * 100)
    reference = correct["ORT FP32"]
    return {
        label: f"p={paired(reference, ok).p_value:.2g}" if label != "ORT FP32" else "ref"
        for label, ok in correct.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", help="comma-separated model names")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0, help="per cell per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=256, help="calibration images")
    parser.add_argument("--tflite", action="store_true", help="add TFLite INT8 on LiteRT")
    args = parser.parse_args()
    print(f"## Peers: `python {' '.join(sys.argv)}`\n")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores, ISA: {', '.join(cpu_isa())}  ")
    print(f"Load average at the start: {', '.join(f'{v:.1f}' for v in os.getloadavg())}  ")
    with tempfile.TemporaryDirectory(prefix="deploykit-peers-") as tmp:
        work = Path(tmp)
        calib = make_calibration_set("digits", args.samples, 0, work / "calib.npz")
        for name in args.models.split(","):
            cells, spec, trained = build_cells(name, work / name, calib, args)
            x = np.random.default_rng(0).random(spec.nchw, dtype=np.float32)
            time_cells(cells, x, args.rounds, args.seconds)
            tests = {}
            if trained:
                data = load_dataset("digits", "test")
                tests = accuracy(cells, spec, data.labels, data.images)
            report(name, spec, cells, tests, args)
    print(f"\nLoad average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


def report(name: str, spec, cells: list[Cell], tests: dict[str, str], args) -> None:
    """A Markdown table for one model, with the ratios the issue's targets name."""
    size = "x".join(map(str, spec.nchw[1:]))
    print(f"\n### {name} ({size}, batch 1, {args.threads} threads, {args.rounds} rounds)\n")
    head = "| cell | p50 ms | vs ORT FP32 | ran |" + (" top-1 % | paired |" if tests else "")
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    ort32 = next(c.p50 for c in cells if c.label == "ORT FP32")
    for cell in cells:
        line = f"| {cell.label} | {cell.p50:.2f} | {ort32 / cell.p50:.2f}x | {cell.note} |"
        if tests:
            line += f" {cell.top1:.2f} | {tests[cell.label]} |"
        print(line)
    by_label = {c.label: c.p50 for c in cells}
    ours = min((c for c in cells if c.label.startswith(OURS)), key=lambda c: c.p50)
    nncf = by_label["OpenVINO + NNCF INT8 (defaults)"]
    print(
        f"\n- default INT8 on ORT vs ORT FP32: {ort32 / by_label[f'{OURS} on ORT']:.2f}x"
        f"\n- fastest deploykit INT8 cell ({ours.label}, {ours.p50:.2f} ms) vs OpenVINO + NNCF "
        f"({nncf:.2f} ms): {nncf / ours.p50:.2f}x"
    )
    print(
        "- rounds (ms): "
        + "; ".join(f"{c.label}: {', '.join(f'{r:.2f}' for r in c.rounds)}" for c in cells)
    )


if __name__ == "__main__":
    main()
