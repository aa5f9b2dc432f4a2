"""Precision benchmark: FP32 vs FP16 vs INT8 on CPU backends, with NNCF as the peer.

Prints a Markdown section: latency at batch 1 (224x224, random-weight torchvision
models: only speed is measured on them), calibration time, and top-1 on digits
of the digits-trained demo models at every precision.

    python benchmarks/precision.py [--models resnet18,mobilenet_v2] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deploykit.bench.timing import TimingConfig, measure
from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.export import ExportRequest, export_model
from deploykit.host import describe
from deploykit.runners import RunnerOptions, open_runner


def timed(fn, x: np.ndarray, seconds: float, min_iters: int) -> dict[str, float]:
    """Warm up, then call ``fn(x)`` for at least ``min_iters`` calls and ``seconds``."""
    config = TimingConfig(warmup_iters=5, warmup_s=0.0, min_iters=min_iters, min_s=seconds)
    stats = measure(lambda: fn(x), len(x), config)
    return {"p50": stats.p50_ms, "mean": stats.mean_ms, "p90": stats.p90_ms, "n": stats.n}


def runner_latency(backend, model, spec, precision, threads, args, **extra):
    options = RunnerOptions(threads=threads, precision=precision, extra=extra)
    with open_runner(backend, model, spec, options) as runner:
        x = runner.prepare_input(
            np.random.default_rng(0).random(spec.with_batch(1).nchw, dtype=np.float32)
        )
        stats = timed(runner.run_prepared, x, args.seconds, args.iters)
        return stats, runner.info.details


def nncf_model(fp32_onnx: Path, calib_x: np.ndarray, threads: int):
    """NNCF's default INT8 pipeline on the OpenVINO model, compiled as OpenVINO defaults."""
    import nncf
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(fp32_onnx))
    model.reshape({model.inputs[0]: [1, *calib_x.shape[1:]]})
    dataset = nncf.Dataset(list(calib_x[:, None]))
    t0 = time.perf_counter()
    nncf.set_log_level(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):  # NNCF draws progress bars on stdout
        quantized = nncf.quantize(model, dataset, subset_size=len(calib_x))
    seconds = time.perf_counter() - t0
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
    return core.compile_model(quantized, "CPU", config), seconds


def latency_rows(name: str, work: Path, calib: Path, args) -> tuple[list[str], dict]:
    import torch

    from deploykit.sources import load_model

    loaded = load_model(name)
    spec = loaded.spec
    rows, facts = [], {}
    fp32 = export_model(loaded, ExportRequest(out_dir=work, verify=False)).artifact
    fp16 = export_model(
        str(fp32), ExportRequest(precision="fp16", out_dir=work, verify=False)
    ).artifact
    t0 = time.perf_counter()
    int8 = export_model(
        str(fp32), ExportRequest(precision="int8", calib=calib, out_dir=work, verify=False)
    ).artifact
    facts["int8_export_s"] = time.perf_counter() - t0
    u8_request = ExportRequest(
        precision="int8",
        calib=calib,
        out_dir=work,
        name=f"{name}_u8",
        verify=False,
        options={"activations": "uint8"},
    )
    int8_u8 = export_model(str(fp32), u8_request).artifact
    torch.set_num_threads(args.threads)
    cells = [
        (
            "torch eager",
            "FP32",
            lambda: runner_latency("torch", loaded.model, spec, "fp32", args.threads, args),
        ),
        (
            "ONNX Runtime",
            "FP32",
            lambda: runner_latency("onnxruntime", fp32, spec, "fp32", args.threads, args),
        ),
        (
            "ONNX Runtime",
            "FP16",
            lambda: runner_latency("onnxruntime", fp16, spec, "fp16", args.threads, args),
        ),
        (
            "ONNX Runtime",
            "INT8 (our Q/DQ)",
            lambda: runner_latency("onnxruntime", int8, spec, "int8", args.threads, args),
        ),
        (
            "ONNX Runtime",
            "INT8 (our Q/DQ, u8 activations)",
            lambda: runner_latency("onnxruntime", int8_u8, spec, "int8", args.threads, args),
        ),
        (
            "OpenVINO",
            "FP32 (f32 forced)",
            lambda: runner_latency("openvino", fp32, spec, "fp32", args.threads, args),
        ),
        (
            "OpenVINO",
            "FP32 (OpenVINO default: bf16 here)",
            lambda: runner_latency(
                "openvino", fp32, spec, "fp32", args.threads, args, inference_precision="auto"
            ),
        ),
        (
            "OpenVINO",
            "INT8 (our Q/DQ)",
            lambda: runner_latency("openvino", int8, spec, "int8", args.threads, args),
        ),
        (
            "OpenVINO",
            "INT8 (our Q/DQ, u8 activations)",
            lambda: runner_latency("openvino", int8_u8, spec, "int8", args.threads, args),
        ),
    ]
    results = {}
    for backend, precision, cell in cells:
        try:
            stats, details = cell()
            ran = details.get("inference_precision", "")
            results[(backend, precision)] = stats["p50"]
            rows.append(
                f"| {name} | {backend} | {precision} | {stats['p50']:.2f} | "
                f"{stats['mean']:.2f} | {stats['p90']:.2f} | {stats['n']} | {ran} |"
            )
        except Exception as exc:  # one failing cell must not end the table
            rows.append(f"| {name} | {backend} | {precision} | failed: {str(exc)[:80]} |||||")
    try:
        calib_x = prepare(np.load(calib)["x"], spec)
        compiled, facts["nncf_quantize_s"] = nncf_model(fp32, calib_x, args.threads)
        request = compiled.create_infer_request()
        x = np.random.default_rng(0).random(spec.with_batch(1).nchw, dtype=np.float32)
        stats = timed(lambda a: request.infer({0: a}), x, args.seconds, args.iters)
        results[("NNCF", "INT8")] = stats["p50"]
        rows.append(
            f"| {name} | OpenVINO + NNCF (peer) | INT8 (nncf.quantize defaults) | "
            f"{stats['p50']:.2f} | {stats['mean']:.2f} | {stats['p90']:.2f} | "
            f"{stats['n']} | {compiled.get_property('INFERENCE_PRECISION_HINT').get_type_name()} |"
        )
    except Exception as exc:
        rows.append(f"| {name} | OpenVINO + NNCF (peer) | INT8 | failed: {str(exc)[:80]} |||||")
    facts["p50"] = results
    return rows, facts


def accuracy_rows(work: Path, calib: Path) -> list[str]:
    from deploykit.zoo.trained import load_trained

    data = load_dataset("digits", "test")
    rows = []
    for name in ("demo_resnet", "demo_mobilenet_v2"):
        loaded = load_trained(name)
        x = prepare(data.images, loaded.spec)
        fp32 = export_model(loaded, ExportRequest(out_dir=work / "demo")).artifact
        cells = [("FP32", "onnxruntime", fp32, "fp32")]
        for precision in ("fp16", "int8", "int8-dynamic"):
            request = ExportRequest(precision=precision, calib=calib, out_dir=work / "demo")
            cells.append(
                (
                    precision.upper(),
                    "onnxruntime",
                    export_model(str(fp32), request).artifact,
                    precision,
                )
            )
        int8 = cells[2][2]
        cells.append(("INT8 (our Q/DQ)", "openvino", int8, "int8"))
        line = [name]
        for _label, backend, path, precision in cells:
            with open_runner(backend, path, loaded.spec, RunnerOptions(precision=precision)) as r:
                line.append(f"{(r.infer(x).argmax(1) == data.labels).mean() * 100:.2f}")
        rows.append("| " + " | ".join(line) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,mobilenet_v2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deploykit-precision-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        calib = make_calibration_set("digits", args.samples, 0, work / "calib.npz")
        calib_draw_s = time.perf_counter() - t0
        lines, facts = [], {}
        for name in args.models.split(","):
            rows, facts[name] = latency_rows(name, work / name, calib, args)
            lines += rows
        accuracy = accuracy_rows(work, calib)
    print("## Precision: FP32, FP16, INT8 on CPU\n")
    print(f"Command: `python {' '.join(sys.argv)}`  ")
    print(f"CPU: {describe()}  ")
    print(
        f"Load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())} "
        "(shared machine: other jobs were running)  "
    )
    from deploykit.manifest import library_versions

    versions = library_versions()
    print(
        "Versions: "
        + ", ".join(
            f"{k} {versions[k]}"
            for k in ("torch", "onnxruntime", "openvino", "nncf")
            if k in versions
        )
    )
    print(
        f"\nBatch 1, {args.threads} threads, 224x224, random weights (latency only); "
        "p50/mean/p90 in ms over at least "
        f"{args.iters} runs and {args.seconds:.0f} s after 5 warm-up runs.\n"
    )
    print("| model | backend | precision | p50 ms | mean ms | p90 ms | runs | ran as |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    print("\n### Speed-ups (p50)\n")
    for name, fact in facts.items():
        p50 = fact["p50"]
        eager = p50.get(("torch eager", "FP32"))
        ours = min((v for k, v in p50.items() if "INT8" in k[1] and k[0] != "NNCF"), default=None)
        peer = p50.get(("NNCF", "INT8"))
        if eager and ours:
            print(
                f"- {name}: fastest INT8 artifact of ours {ours:.2f} ms = "
                f"{eager / ours:.1f}x torch eager FP32 ({eager:.2f} ms)"
                + (f"; NNCF peer {peer:.2f} ms ({peer / ours:.2f}x ours)" if peer else "")
            )
        ort32, ort8 = (
            p50.get(("ONNX Runtime", "FP32")),
            p50.get(("ONNX Runtime", "INT8 (our Q/DQ)")),
        )
        if ort32 and ort8:
            verdict = "faster" if ort8 < ort32 else "slower"
            print(
                f"- {name}: ONNX Runtime INT8 is {verdict} than its FP32 here "
                f"({ort8:.2f} vs {ort32:.2f} ms)"
            )
    print("\n### Calibration time\n")
    print(f"- drawing {args.samples} digits images: {calib_draw_s:.1f} s")
    for name, fact in facts.items():
        print(
            f"- {name}: INT8 export from FP32 ONNX with {args.samples} samples "
            f"(pre-process, calibrate, quantize): {fact['int8_export_s']:.1f} s"
            + (
                f"; NNCF quantize: {fact['nncf_quantize_s']:.1f} s"
                if "nncf_quantize_s" in fact
                else ""
            )
        )
    print("\n### Top-1 on digits (400 test images), digits-trained demo models\n")
    print(
        "| model | FP32 (ORT) | FP16 (ORT) | INT8 Q/DQ (ORT) | INT8 dynamic (ORT) "
        "| INT8 Q/DQ (OpenVINO) |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(accuracy))


if __name__ == "__main__":
    main()
