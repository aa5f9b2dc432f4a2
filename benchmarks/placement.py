"""Q/DQ placement: ORT's default against TensorRT's rules (NVIDIA Model Optimizer), per model.

For each model, exports the INT8 Q/DQ artifact with ``--option placement=ort`` and
``placement=trt`` from one FP32 graph and one calibration set, and prints:

- Q/DQ counts: activation QuantizeLinear nodes, weight and bias DequantizeLinear nodes,
  residual Adds with a Q/DQ on both inputs, and the counts Model Optimizer's INT8 mode
  would give for the trt placement (the same activation pairs, plus one QuantizeLinear per
  weight, since it keeps FP32 weights behind a Q/DQ pair; derived from its source,
  ``modelopt.onnx.quantization.int8``);
- with ``--modelopt PYTHON`` (an interpreter with ``nvidia-modelopt[onnx]``, which pins its
  own onnxruntime-gpu, so it lives in its own venv: ``make modelopt-venv``), ModelOpt's INT8
  ``quantize`` really run on the same FP32 graph and calibration images (CPU calibration,
  FP32 elsewhere), and the inputs each file quantizes compared node by node;
- for digits models (zoo entries with 32x32 inputs, trained here and cached), top-1 on the
  digits test split in ONNX Runtime (re-encoded, and the file as written) and OpenVINO.

    python benchmarks/placement.py demo_resnet,demo_mobilenet_v2,shufflenet_v1_small,resnet18
    python benchmarks/placement.py resnet18,mobilenet_v2 --modelopt .venv-modelopt/bin/python
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.export import ExportRequest, export_model
from deploykit.runners import RunnerOptions, open_runner

PLACEMENTS = ("ort", "trt")
# Re-encoded (the ORT default), the file as written, OpenVINO.
CELLS = (("onnxruntime", {}), ("onnxruntime", {"reencode": False}), ("openvino", {}))


def counts(path: Path) -> dict[str, int]:
    """Q/DQ nodes of an INT8 artifact, by what they quantize."""
    import onnx

    graph = onnx.load(str(path)).graph
    inits = {i.name: i.data_type for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    kinds: Counter = Counter()
    for node in graph.node:
        if node.op_type == "QuantizeLinear":
            kinds["activation Q"] += 1
        elif node.op_type == "DequantizeLinear":
            source = inits.get(node.input[0])
            if source == onnx.TensorProto.INT32:
                kinds["bias DQ"] += 1
            elif source is not None:
                kinds["weight DQ"] += 1
            else:
                kinds["activation DQ"] += 1
        elif node.op_type == "Add" and len(node.input) == 2:
            fed = [producer.get(i) for i in node.input]
            if all(p is not None and p.op_type == "DequantizeLinear" for p in fed):
                kinds["Add with Q/DQ on both inputs"] += 1
    kinds["weighted ops"] = kinds["weight DQ"]
    return dict(kinds)


# Run in the --modelopt interpreter: argv = FP32 ONNX, calibration .npy, destination.
MODELOPT = """
import sys, numpy as np
from modelopt.onnx.quantization import quantize
quantize(sys.argv[1], quantize_mode="int8", calibration_data=np.load(sys.argv[2]),
         calibration_method="max", calibration_eps=["cpu"], output_path=sys.argv[3],
         high_precision_dtype="fp32", log_level="ERROR")
"""


def quantized_inputs(path: Path) -> set[tuple[str, int, str]]:
    """``(node, input index, "activation"|"weight")`` for every input read through a DQ."""
    import onnx

    graph = onnx.load(str(path)).graph
    inits = {i.name for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    found = set()
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for index, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producer.get(dq.input[0])  # None: an int8 initializer (ours)
            weight = q is None or q.input[0] in inits
            found.add((node.name, index, "weight" if weight else "activation"))
    return found


def against_modelopt(python: str, fp32: Path, x: np.ndarray, ours: Path) -> str:
    """ModelOpt's INT8 file for ``fp32``, compared with ``ours`` input by input."""
    np.save(fp32.with_suffix(".calib.npy"), x)
    dest = fp32.with_name(f"{fp32.stem}_modelopt.onnx")
    subprocess.run(
        [python, "-c", MODELOPT, str(fp32), str(fp32.with_suffix(".calib.npy")), str(dest)],
        check=True,
        capture_output=True,
    )
    theirs, mine = quantized_inputs(dest), quantized_inputs(ours)
    differ = [f"only ours: {sorted(mine - theirs)}"] if mine - theirs else []
    differ += [f"only ModelOpt: {sorted(theirs - mine)}"] if theirs - mine else []
    return f"{len(theirs & mine)} of {len(theirs)} inputs the same" + "; ".join(["", *differ])


def top1(path: Path, spec, x: np.ndarray, labels: np.ndarray, backend: str, **extra) -> float:
    options = RunnerOptions(threads=2, precision="int8", extra=extra)
    with open_runner(backend, path, spec, options) as runner:
        return float((runner.infer(x).argmax(1) == labels).mean() * 100)


def model_rows(name: str, work: Path, calib: Path, data, modelopt: str | None) -> list[str]:
    import torch

    from deploykit.sources import load_model
    from deploykit.zoo import get_entry
    from deploykit.zoo.trained import load_trained

    entry = get_entry(name)
    trained = entry.num_classes == 10 and entry.input_size == 32
    torch.manual_seed(0)
    loaded = load_trained(name) if trained else load_model(name)
    fp32 = export_model(loaded, ExportRequest(out_dir=work, verify=False)).artifact
    x = prepare(data.images, loaded.spec)
    rows = []
    if trained:
        with open_runner("onnxruntime", fp32, loaded.spec, RunnerOptions(threads=2)) as runner:
            reference = (runner.infer(x).argmax(1) == data.labels).mean() * 100
        rows.append(f"| {name} | FP32 | | | | | | | {reference:.2f} | | |")
    for where in PLACEMENTS:
        request = ExportRequest(
            precision="int8",
            calib=calib,
            out_dir=work,
            name=f"{name}_{where}",
            verify=False,
            options={"placement": where},
        )
        path = export_model(str(fp32), request).artifact
        c = counts(path)
        dq = c.get("activation DQ", 0) + c["weight DQ"]
        derived = f"{c['activation Q'] + c['weighted ops']} Q / {dq} DQ" if where == "trt" else ""
        if where == "trt" and modelopt:
            calib_x = prepare(np.load(calib)["x"], loaded.spec)
            derived = against_modelopt(modelopt, fp32, calib_x, path)
        accuracy = ["", "", ""]
        if trained:
            accuracy = [
                f"{top1(path, loaded.spec, x, data.labels, backend, **extra):.2f}"
                for backend, extra in CELLS
            ]
        rows.append(
            f"| {name} | {where} | {c['activation Q']} | {c.get('activation DQ', 0)} | "
            f"{c['weight DQ']} | {c.get('bias DQ', 0)} | {c.get('Add with Q/DQ on both inputs', 0)} | "
            f"{derived} | " + " | ".join(accuracy) + " |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", help="comma-separated model names")
    parser.add_argument("--samples", type=int, default=256, help="calibration images")
    parser.add_argument(
        "--modelopt", metavar="PYTHON", help="interpreter with nvidia-modelopt[onnx] to run it"
    )
    args = parser.parse_args()
    print(f"## Q/DQ placement: `python {' '.join(sys.argv)}`\n")
    print(
        "| model | placement | act. Q | act. DQ | weight DQ | bias DQ | Adds Q/DQ'd on both inputs "
        f"| ModelOpt ({'run' if args.modelopt else 'derived'}) | top-1 ORT | top-1 ORT, file as written | top-1 OpenVINO |"
    )
    print("|---" * 11 + "|")
    data = load_dataset("digits", "test")
    with tempfile.TemporaryDirectory(prefix="deploykit-placement-") as tmp:
        work = Path(tmp)
        calib = make_calibration_set("digits", args.samples, 0, work / "calib.npz")
        for name in args.models.split(","):
            rows = model_rows(name, work / name, calib, data, args.modelopt)
            print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
