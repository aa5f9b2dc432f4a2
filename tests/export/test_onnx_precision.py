"""INT8 (Q/DQ, dynamic) and FP16 ONNX exports, the accuracy budget, and bad inputs.

The digits-trained demo models are exported to FP32 ONNX once; the reduced
precisions are converted from that file (an ONNX source is passed through),
which keeps the suite fast on two cores.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import replace

import numpy as np
import onnx
import pytest

from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.errors import VerificationError
from deploykit.export import ExportRequest, export_model
from deploykit.manifest import read_manifest
from deploykit.runners import RunnerOptions, open_runner


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("precision")


@pytest.fixture(scope="module")
def calib(work):
    return make_calibration_set("digits", 64, 0, work / "digits-64.npz")


@pytest.fixture(scope="module")
def digits_test():
    return load_dataset("digits", "test")


@pytest.fixture(scope="module")
def fp32_files(work, trained_resnet, trained_mobilenet):
    """FP32 ONNX exports (with manifests) of the two demo models."""
    out = work / "fp32"
    return {
        m.name: export_model(m, ExportRequest(out_dir=out)).artifact
        for m in (trained_resnet, trained_mobilenet)
    }


def top1(path, spec, data, backend="onnxruntime", precision="fp32"):
    with open_runner(backend, path, spec, RunnerOptions(threads=2, precision=precision)) as r:
        logits = r.infer(prepare(data.images, spec))
    return float((logits.argmax(1) == data.labels).mean() * 100), logits


def ops(path):
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)  # valid for every ONNX consumer
    return [n.op_type for n in model.graph.node], model


@pytest.mark.parametrize("name", ["demo_resnet", "demo_mobilenet_v2"])
def test_int8_qdq_keeps_accuracy(name, fp32_files, calib, digits_test, work, trained_resnet):
    result = export_model(
        str(fp32_files[name]), ExportRequest(precision="int8", calib=calib, out_dir=work / "int8")
    )
    spec = result.manifest.input
    types, model = ops(result.artifact)
    assert types.count("QuantizeLinear") >= 8 and types.count("DequantizeLinear") >= 8
    weights = [i for i in model.graph.initializer if i.name.endswith("weight_quantized")]
    assert weights and all(w.data_type == onnx.TensorProto.INT8 for w in weights)
    calibration = result.manifest.calibration
    assert (calibration["count"], calibration["method"]) == (64, "minmax")
    assert len(calibration["sha256"]) == 64
    assert result.manifest.verification["passed"]
    fp32_acc, fp32_logits = top1(fp32_files[name], spec, digits_test)
    int8_acc, int8_logits = top1(result.artifact, spec, digits_test)
    assert abs(fp32_acc - int8_acc) <= 1.0, (fp32_acc, int8_acc)
    assert not [p.name for p in (work / "int8").iterdir() if p.name.startswith(".")]
    assert (fp32_logits.argmax(1) == int8_logits.argmax(1)).mean() >= 0.97


def test_fp16_keeps_fp32_io_and_accuracy(fp32_files, digits_test, work):
    result = export_model(
        str(fp32_files["demo_resnet"]), ExportRequest(precision="fp16", out_dir=work / "fp16")
    )
    _, model = ops(result.artifact)
    io = [*model.graph.input, *model.graph.output]
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in io)
    assert result.manifest.details["fp16_initializers"] > 5
    spec = result.manifest.input
    fp32_acc, fp32_logits = top1(fp32_files["demo_resnet"], spec, digits_test)
    fp16_acc, fp16_logits = top1(result.artifact, spec, digits_test)
    assert abs(fp32_acc - fp16_acc) <= 0.5
    assert np.abs(fp32_logits - fp16_logits).max() < 0.05 * np.abs(fp32_logits).max()


def test_int8_dynamic_and_keep_fp32(fp32_files, calib, work, digits_test):
    source = str(fp32_files["demo_resnet"])
    dynamic = export_model(source, ExportRequest(precision="int8-dynamic", out_dir=work / "dyn"))
    assert "ConvInteger" in ops(dynamic.artifact)[0] and dynamic.manifest.calibration is None
    kept = export_model(
        source,
        ExportRequest(
            precision="int8",
            calib=calib,
            calib_method="percentile",
            keep_fp32=("Gemm",),
            out_dir=work / "keep",
        ),
    )
    _, model = ops(kept.artifact)
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    assert producers.get(gemm.input[1]) != "DequantizeLinear"  # fc weight stays FP32
    assert kept.manifest.calibration["method"] == "percentile"
    assert kept.manifest.details["keep_fp32"] == [gemm.name]


def test_int8_file_is_about_4x_smaller(work, calib):
    """On a model whose weights dominate the file (a wide ResNet-8, 1.2 M parameters: 3.9x)."""
    from deploykit.sources import LoadedModel
    from deploykit.spec import InputSpec
    from deploykit.zoo.demo import DIGITS_PREPROCESS, SmallResNet

    spec = InputSpec((1, 3, 32, 32), preprocess=DIGITS_PREPROCESS)
    wide = LoadedModel(
        "torch",
        "wide",
        spec,
        {"ref": "wide"},
        model=SmallResNet(widths=(64, 128, 256)).eval(),
        num_classes=10,
    )
    fp32 = export_model(wide, ExportRequest(out_dir=work / "wide", verify=False))
    int8 = export_model(
        str(fp32.artifact),
        ExportRequest(precision="int8", calib=calib, out_dir=work / "wide", verify=False),
    )
    ratio = fp32.manifest.size_bytes / int8.manifest.size_bytes
    assert 3.5 < ratio < 4.2, ratio


def test_accuracy_budget_falls_back_hostile_layers(trained_resnet, calib, work, digits_test):
    """A function-preserving rescale makes one activation quantization-hostile.

    Channels 0 and 1 of stage 0's first conv are scaled up 1000x (through its
    BatchNorm; ReLU commutes with positive scaling) and the next conv's weights
    for them scaled down, so FP32 outputs are unchanged but the per-tensor INT8
    range of that activation crushes every other channel to zero.
    """
    import torch

    model = copy.deepcopy(trained_resnet.model)
    block = model.stages[0]
    with torch.no_grad():
        for channel in (0, 1):
            block.bn1.weight[channel] *= 1000.0
            block.bn1.bias[channel] *= 1000.0
            block.conv2.weight[:, channel] /= 1000.0
    hostile = dataclasses.replace(trained_resnet, model=model, name="hostile")
    fp32 = export_model(hostile, ExportRequest(out_dir=work / "hostile"))
    request = ExportRequest(precision="int8", calib=calib, out_dir=work / "hostile")
    with pytest.raises(VerificationError, match="top-1 agreement"):
        export_model(str(fp32.artifact), request)
    result = export_model(
        str(fp32.artifact),
        dataclasses.replace(request, max_accuracy_drop=1.0, eval_data="digits"),
    )
    budget = result.manifest.details["accuracy_budget"]
    layers = [f["layer"] for f in budget["fp32_fallback"]]
    assert budget["int8_top1_all_layers"] < 50 <= budget["int8_top1"]
    # Within budget as bench judges it: at most 1 point, or a loss the paired test cannot
    # tell from noise on these 400 images.
    assert budget["drop"] <= 1.0 or not budget["paired"]["regressed"]
    assert "stages.0.conv2" in layers and len(layers) <= 3
    # Each kept layer says why: its rank alone in INT8, its SQNR, top-1 once it is FP32.
    first = budget["fp32_fallback"][0]
    assert first["rank"] == 1 and first["top1_alone_int8"] < 50 and first["sqnr_db"] < 10
    assert budget["fp32_fallback"][-1]["top1_after"] == budget["int8_top1"]
    assert budget["resolution"]["min_significant_images"] == 6
    acc, _ = top1(result.artifact, result.manifest.input, digits_test)
    assert acc == pytest.approx(budget["int8_top1"])


def test_bad_inputs_answer_in_one_line_and_leave_nothing(cli, user_error, fp32_files, work):
    source = str(fp32_files["demo_resnet"])
    bad = work / "bad"
    bad.mkdir()
    np.savez(bad / "empty.npz", x=np.zeros((0, 1, 8, 8), np.float32))
    np.savez(bad / "small.npz", x=np.zeros((3, 1, 8, 8), np.float32))
    spec = read_manifest(fp32_files["demo_resnet"]).input
    make_calibration_set("digits", 16, 0, bad / "wrong.npz", replace(spec, shape=(1, 3, 48, 48)))
    out = work / "bad-out"
    cases = [
        (("--calib", bad / "empty.npz"), "empty"),
        (("--calib", bad / "small.npz"), "fewer than the 8 needed"),
        (("--calib", bad / "wrong.npz"), "prepared with shape 3x48x48"),
        (("--calib", bad / "missing.npz"), "does not exist"),
        (
            ("--calib", bad / "small.npz", "--calib-method", "median"),
            "--calib-method: unknown value 'median'",
        ),
        (("--calib", bad / "small.npz", "--max-accuracy-drop", "1"), "needs a labelled set"),
        ((), "needs a calibration set"),
    ]
    for args, message in cases:
        result = cli("export", source, "--precision", "int8", "-o", out, *args)
        user_error(result, message)
        assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


def test_uint8_activations_option_for_cpu_runtimes(
    tmp_path, fp32_files, calib, digits_test, cli, user_error
):
    """`--option activations=uint8`: asymmetric u8 activations (VNNI's fast path), int8 weights."""
    request = ExportRequest(
        out_dir=tmp_path / "u8", precision="int8", calib=calib, options={"activations": "uint8"}
    )
    result = export_model(str(fp32_files["demo_resnet"]), request)
    graph = onnx.load(str(result.artifact)).graph
    initializers = {i.name: i for i in graph.initializer}
    zero_points = [initializers[n.input[2]] for n in graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points and all(z.data_type == onnx.TensorProto.UINT8 for z in zero_points)
    assert result.manifest.exporter["activations"] == "uint8 asymmetric"
    # The 32-image verification allows a flip or two; judge accuracy on the whole test split.
    assert result.manifest.verification["passed"]
    spec = result.manifest.input
    fp32_acc, fp32_logits = top1(fp32_files["demo_resnet"], spec, digits_test)
    u8_acc, u8_logits = top1(result.artifact, spec, digits_test)
    assert abs(fp32_acc - u8_acc) <= 1.0, (fp32_acc, u8_acc)
    assert (fp32_logits.argmax(1) == u8_logits.argmax(1)).mean() >= 0.97
    bad = cli(
        "export",
        "demo_resnet",
        "--precision",
        "int8",
        "--calib",
        calib,
        "--option",
        "activations=int4",
        "-o",
        tmp_path / "bad",
    )
    user_error(bad, "--option activations: unknown value 'int4'")
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())


def test_int7_weights_for_cpus_without_vnni(
    tmp_path, fp32_files, calib, digits_test, cli, user_error
):
    """`--option weights=int7`: weights in [-64, 64]; the runners warn about 8-bit ones without VNNI."""
    from deploykit.runners.cpu import saturation_warning

    source = str(fp32_files["demo_resnet"])
    int7 = export_model(
        source,
        ExportRequest(
            out_dir=tmp_path / "w7", precision="int8", calib=calib, options={"weights": "int7"}
        ),
    )
    weights = [
        onnx.numpy_helper.to_array(i)
        for i in onnx.load(str(int7.artifact)).graph.initializer
        if i.name.endswith("weight_quantized")
    ]
    assert weights and all(w.min() >= -64 and w.max() <= 64 for w in weights)
    assert int7.manifest.exporter["weights"].startswith("int7 symmetric per-channel")
    spec = int7.manifest.input
    fp32_acc, _ = top1(fp32_files["demo_resnet"], spec, digits_test)
    int7_acc, _ = top1(int7.artifact, spec, digits_test)
    assert abs(fp32_acc - int7_acc) <= 1.0, (fp32_acc, int7_acc)
    int8 = export_model(
        source, ExportRequest(out_dir=tmp_path / "w8", precision="int8", calib=calib)
    )
    no_vnni, vnni = ["avx2", "avx512f"], ["avx2", "avx512f", "avx512_vnni"]
    assert "--option weights=int7" in saturation_warning(int8.artifact, no_vnni)
    assert saturation_warning(int8.artifact, vnni) is None
    assert saturation_warning(int7.artifact, no_vnni) is None
    assert saturation_warning(fp32_files["demo_resnet"], no_vnni) is None
    bad = cli(
        "export",
        source,
        "--precision",
        "int8",
        "--calib",
        calib,
        "--option",
        "weights=int4",
        "-o",
        tmp_path / "bad",
    )
    user_error(bad, "--option weights: unknown value")
