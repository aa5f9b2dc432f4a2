"""Two OpenVINO CPU bugs behind ShuffleNet V1's INT8 collapse, each on a one-layer Q/DQ graph.

Usage:
    python benchmarks/openvino_shufflenet_repro.py                # this CPU
    ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI python benchmarks/...     # oneDNN without AMX
    python benchmarks/openvino_shufflenet_repro.py --model shufflenet_v1_small
        # the digits-trained model (cached), both placements: top-1 through the runners,
        # OpenVINO with and without deploykit's rewrites

Each graph has symmetric int8 activations and per-output-channel int8 weights, as
deploykit's INT8 artifact. OpenVINO's CPU plugin runs it (``INFERENCE_PRECISION_HINT``
f32) and ONNX Runtime with graph optimizations off gives the reference (it computes the
Q/DQ arithmetic in float). Errors are in quantization steps of the input. The last
columns are the same graph after deploykit's load-time rewrite
(:mod:`deploykit.runners.openvino_quirks`).

1. ``grouped 1x1``: Q/DQ -> Conv(1x1, group 3, int8 weights). OpenVINO's AMX kernel
   ``brgconv_avx512_amx_1x1`` is wrong when a group has more than 64 input channels and
   not a multiple of 64 (ShuffleNet V1 g=3: 80 and 160).
2. ``padded avgpool``: Q/DQ -> {AveragePool(3x3, stride 2, pad 1, count_include_pad=1),
   Conv(1x1, stride 2)} -> Concat. OpenVINO moves the zero point of the dequantization
   past the pooling, so every padded tap counts as ``-zero_point``: with a uint8 zero point
   of 128 always, with a symmetric int8 tensor on CPUs without AMX (the Conv reader makes
   OpenVINO store it as uint8 with zero point 128 there).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

STEP = 0.05  # input quantization step of every graph


def _model(nodes: list, inputs: dict[str, np.ndarray], output: tuple, inits: list) -> Any:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "repro",
        [
            helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape))
            for k, v in inputs.items()
        ],
        [helper.make_tensor_value_info(output[0], TensorProto.FLOAT, list(output[1]))],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model


def _qdq_input(zero_point: int, low: int, shape: tuple, seed: int) -> tuple[list, list, dict]:
    """Nodes and initializers quantizing input ``x`` (step :data:`STEP`), and the input."""
    from onnx import helper, numpy_helper

    dtype = np.uint8 if zero_point else np.int8
    rng = np.random.default_rng(seed)
    x = (rng.integers(low, 128, shape) * STEP).astype(np.float32)
    inits = [
        numpy_helper.from_array(np.array(STEP, np.float32), "step"),
        numpy_helper.from_array(np.array(zero_point, dtype), "zero"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "step", "zero"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "step", "zero"], ["xd"]),
    ]
    return nodes, inits, {"x": x}


def _int8_weight(shape: tuple, rng: Any) -> tuple[list, list]:
    from onnx import helper, numpy_helper

    out = shape[0]
    inits = [
        numpy_helper.from_array(rng.integers(-127, 128, shape).astype(np.int8), "w"),
        numpy_helper.from_array((rng.uniform(0.5, 2, out) * 1e-3).astype(np.float32), "w_step"),
        numpy_helper.from_array(np.zeros(out, np.int8), "w_zero"),
    ]
    return [helper.make_node("DequantizeLinear", ["w", "w_step", "w_zero"], ["wd"], axis=0)], inits


def grouped_1x1(per_group: int, groups: int = 3, out_per_group: int = 20, hw: int = 8) -> tuple:
    """Q/DQ -> grouped 1x1 Conv: ``(onnx model, feeds)``."""
    from onnx import helper

    shape = (2, per_group * groups, hw, hw)
    nodes, inits, feeds = _qdq_input(0, 0, shape, seed=0)
    w_nodes, w_inits = _int8_weight(
        (out_per_group * groups, per_group, 1, 1), np.random.default_rng(1)
    )
    conv = helper.make_node("Conv", ["xd", "wd"], ["y"], group=groups, kernel_shape=[1, 1])
    out = ("y", (2, out_per_group * groups, hw, hw))
    return _model([*nodes, *w_nodes, conv], feeds, out, inits + w_inits), feeds


def padded_avgpool(zero_point: int, conv_reader: bool, channels: int = 16, hw: int = 8) -> tuple:
    """Q/DQ -> padded AveragePool (and a 1x1 Conv on the same tensor) -> Concat."""
    from onnx import helper

    nodes, inits, feeds = _qdq_input(zero_point, -128, (2, channels, hw, hw), seed=0)
    nodes.append(
        helper.make_node(
            "AveragePool", ["xd"], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4,
            count_include_pad=1,
        )
    )  # fmt: skip
    branches = ["pool"]
    if conv_reader:
        w_nodes, w_inits = _int8_weight((channels, channels, 1, 1), np.random.default_rng(1))
        nodes += [*w_nodes, helper.make_node("Conv", ["xd", "wd"], ["conv"], strides=[2, 2])]
        inits += w_inits
        branches.append("conv")
    nodes.append(helper.make_node("Concat", branches, ["y"], axis=1))
    out = ("y", (2, channels * len(branches), hw // 2, hw // 2))
    return _model(nodes, feeds, out, inits), feeds


def reference(model: Any, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """ONNX Runtime with graph optimizations off: the Q/DQ arithmetic in float."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, ["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def openvino(model: Any, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """OpenVINO's CPU output (f32 hint) and the kernels of its Convolution/Pooling layers."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(model.SerializeToString(), b""), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    kernels = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info["layerType"].astype(str) in ("Convolution", "Pooling"):
            kernels.append(info["primitiveType"].astype(str))
    return np.asarray(compiled(feeds)[0]), kernels


def errors(model: Any, feeds: dict[str, np.ndarray]) -> tuple[float, float, list[str]]:
    """OpenVINO's largest error in input steps and relative to the reference's largest value,
    and OpenVINO's kernels."""
    out, kernels = openvino(model, feeds)
    ref = reference(model, feeds)
    error = float(np.abs(out - ref).max())
    return error / STEP, error / float(np.abs(ref).max()), kernels


def cases() -> dict[str, tuple]:
    """Every case of the table: name -> (model, feeds)."""
    table = {f"grouped 1x1, {c} channels per group": grouped_1x1(c) for c in (64, 80, 96, 128, 160)}
    table["padded avgpool, int8 zero point 0, Conv reader"] = padded_avgpool(0, True)
    table["padded avgpool, int8 zero point 0, alone"] = padded_avgpool(0, False)
    table["padded avgpool, uint8 zero point 128, Conv reader"] = padded_avgpool(128, True)
    return table


# OpenVINO cells of the model table: runner options (reencode, inference precision).
OV_CELLS = (
    ("nonnegative", "auto"),
    ("false", "auto"),
    ("exact", "auto"),
    ("nonnegative", "f32"),
    ("false", "f32"),
)


def model_table(name: str, samples: int = 256) -> None:
    """Top-1 on the digits test split of ``name`` (digits-trained, cached) INT8, both placements."""
    import tempfile
    from pathlib import Path

    from deploykit.calibration import make_calibration_set
    from deploykit.data import load_dataset, prepare
    from deploykit.export import ExportRequest, export_model
    from deploykit.runners import RunnerOptions, open_runner
    from deploykit.runners import openvino as openvino_runner
    from deploykit.zoo.trained import load_trained

    loaded = load_trained(name)
    data = load_dataset("digits", "test")
    x = prepare(data.images, loaded.spec)

    def top1(path: Path, backend: str, **extra: str) -> str:
        options = RunnerOptions(threads=2, precision="int8", extra=extra)
        with open_runner(backend, path, loaded.spec, options) as runner:
            return f"{(runner.infer(x).argmax(1) == data.labels).mean() * 100:.2f}"

    header = [f"OV {r}, {p}" for r, p in OV_CELLS]
    print(f"| {name} INT8 | rewrites | ORT | ORT as written | " + " | ".join(header) + " |")
    print("|---" * (4 + len(header)) + "|")
    real = openvino_runner.patched_model
    with tempfile.TemporaryDirectory(prefix="deploykit-ovrepro-") as tmp:
        work = Path(tmp)
        calib = make_calibration_set("digits", samples, 0, work / "calib.npz")
        fp32 = export_model(loaded, ExportRequest(out_dir=work, verify=False)).artifact
        for placement in ("ort", "trt"):
            request = ExportRequest(
                precision="int8", calib=calib, out_dir=work, name=f"{name}_{placement}",
                verify=False, options={"placement": placement},
            )  # fmt: skip
            path = export_model(str(fp32), request).artifact
            ort_cells = [top1(path, "onnxruntime"), top1(path, "onnxruntime", reencode="false")]
            for label, patch in (("yes", real), ("no", lambda _path, model, _options: (model, {}))):
                openvino_runner.patched_model = patch
                try:
                    ov_cells = [
                        top1(path, "openvino", reencode=r, inference_precision=p)
                        for r, p in OV_CELLS
                    ]
                finally:
                    openvino_runner.patched_model = real
                print(f"| {placement} | {label} | " + " | ".join(ort_cells + ov_cells) + " |")


def main() -> None:
    import argparse

    import openvino as ov

    from deploykit.host import describe
    from deploykit.runners.openvino_quirks import avoid_cpu_bugs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a digits zoo model: the model table instead")
    args = parser.parse_args()
    print(f"openvino {ov.__version__}; {describe()}\n")
    if args.model:
        model_table(args.model)
        return
    print("| case | OpenVINO kernels | max error, input steps | relative | after the rewrite |")
    print("|---|---|---|---|---|")
    for name, (model, feeds) in cases().items():
        steps, relative, kernels = errors(model, feeds)
        patched = copy.deepcopy(model)
        avoid_cpu_bugs(patched, amx=True)
        fixed, fixed_relative, fixed_kernels = errors(patched, feeds)
        print(
            f"| {name} | {', '.join(kernels)} | {steps:.1f} | {relative:.2f} | "
            f"{fixed:.1f} steps, {fixed_relative:.2f} ({', '.join(fixed_kernels)}) |"
        )


if __name__ == "__main__":
    main()
