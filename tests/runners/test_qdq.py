"""Load-time re-encoding of symmetric INT8 activations as uint8 in ONNX Runtime and OpenVINO."""

from __future__ import annotations

import copy
import hashlib
import platform

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.errors import InputError
from deploykit.export import ExportRequest, export_model
from deploykit.runners import RunnerOptions, open_runner
from deploykit.runners.qdq import reencode_activations, simplify

x86 = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="the rewrite runs on x86 only"
)


@pytest.fixture(scope="module")
def int8(tmp_path_factory, trained_resnet):
    out = tmp_path_factory.mktemp("qdq")
    calib = make_calibration_set("digits", 32, 0, out / "c.npz")
    fp32 = export_model(trained_resnet, ExportRequest(out_dir=out, verify=False))
    request = ExportRequest(precision="int8", calib=calib, out_dir=out, verify=False)
    result = export_model(str(fp32.artifact), request)
    data = load_dataset("digits", "test")
    return result, prepare(data.images, result.manifest.input), data.labels


def run(result, x, **extra):
    options = RunnerOptions(threads=2, precision="int8", extra=extra)
    with open_runner("onnxruntime", result.artifact, result.manifest.input, options) as runner:
        return runner.infer(x), runner.info.details


def literal_session(model: onnx.ModelProto):
    """An ORT session that executes the Q/DQ graph as written: no fusion into integer kernels."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def saturating(model: onnx.ModelProto, tensors: tuple[str, ...], x: np.ndarray) -> np.ndarray:
    """Per image: whether any of ``tensors`` reaches 127.5 steps of its Q's scale in ``model``."""
    probe = copy.deepcopy(model)
    scales = {
        n.input[0]: numpy_helper.to_array(
            next(i for i in probe.graph.initializer if i.name == n.input[1])
        )
        for n in probe.graph.node
        if n.op_type == "QuantizeLinear" and n.input[0] in tensors
    }
    probe.graph.output.extend(
        helper.make_tensor_value_info(t, TensorProto.FLOAT, None) for t in tensors
    )
    values = literal_session(probe).run(tensors, {probe.graph.input[0].name: x})
    steps = [
        (v / scales[t]).reshape(len(x), -1).max(1) for t, v in zip(tensors, values, strict=True)
    ]
    return np.max(steps, axis=0) >= 127.5


def check_rewrites(
    model: onnx.ModelProto, x: np.ndarray, min_in_range: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Assert what each mode promises on ``x``; returns the file's and ``fast``'s outputs.

    ``min_in_range`` is how many images must stay inside every calibrated range. How many
    do depends on the training: 74 % of 300 digits for one demo_resnet, 4 % for another
    (CI's fresh training), with the same calibration set.
    """
    feed = {model.graph.input[0].name: x}
    original = literal_session(model).run(None, feed)[0]
    exact, simplified, fast = (copy.deepcopy(model) for _ in range(3))
    done = reencode_activations(exact, "exact")
    assert done.pairs == sum(n.op_type == "QuantizeLinear" for n in exact.graph.node)
    assert done.skipped == 0
    assert np.array_equal(literal_session(exact).run(None, feed)[0], original)  # bit for bit
    assert sum(simplify(simplified)) > 0
    assert np.array_equal(literal_session(simplified).run(None, feed)[0], original)
    done = reencode_activations(fast, "fast")
    assert done.unsigned and done.dropped
    rewritten = literal_session(fast).run(None, feed)[0]
    # Zero point 0 differs from the file only on images where a non-negative activation
    # reaches 127.5 steps (the int8 file saturates at 127, uint8 keeps up to 255).
    in_range = ~saturating(simplified, done.unsigned, x)
    assert in_range.sum() >= min_in_range, "too few unsaturated images to check anything"
    assert np.array_equal(rewritten[in_range], original[in_range])
    return original, rewritten


def test_rewrites_are_exact_where_promised_on_real_images(int8):
    result, x, labels = int8
    original, fast = check_rewrites(onnx.load(result.artifact), x)
    assert (fast.argmax(1) == original.argmax(1)).mean() >= 0.99
    assert (fast.argmax(1) == labels).mean() >= 0.95


@x86
def test_runner_reencodes_in_memory_and_records_it(int8):
    result, x, labels = int8
    before = hashlib.sha256(result.artifact.read_bytes()).hexdigest()
    rewritten, details = run(result, x)
    original, off = run(result, x, reencode=False)
    record = details["activation_reencode"]
    assert record["ran"] and record["mode"] == "fast"
    assert record["pairs"] > 5 and record["unsigned"] > 5 and record["dropped"] > 5
    assert off["activation_reencode"] == {"ran": False, "reason": "reencode=false"}
    assert run(result, x[:1], reencode="exact")[1]["activation_reencode"]["mode"] == "exact"
    # Fused integer kernels round a requantized value differently from float Conv then Q
    # now and then (one step); the predictions stay the same.
    assert (rewritten.argmax(1) == original.argmax(1)).mean() >= 0.98
    assert (rewritten.argmax(1) == labels).mean() >= 0.95
    assert hashlib.sha256(result.artifact.read_bytes()).hexdigest() == before  # file untouched


def test_fp32_artifacts_are_not_touched(int8, trained_resnet):
    result = int8[0]
    fp32 = result.artifact.with_name(f"{trained_resnet.name}.onnx")
    with open_runner("onnxruntime", fp32, result.manifest.input, RunnerOptions()) as runner:
        assert "activation_reencode" not in runner.info.details


def test_reencode_option_must_be_a_mode_or_a_boolean(int8):
    result, x, _ = int8
    with pytest.raises(InputError, match="reencode"):
        run(result, x[:1], reencode="maybe")


@x86
def test_openvino_reads_non_negative_activations_as_uint8(int8):
    pytest.importorskip("openvino")
    result, x, labels = int8
    outputs, records = {}, {}
    for mode in ("true", "false"):
        options = RunnerOptions(threads=2, precision="int8", extra={"reencode": mode})
        with open_runner("openvino", result.artifact, result.manifest.input, options) as runner:
            outputs[mode] = runner.infer(x)
            records[mode] = runner.info.details["activation_reencode"]
    assert records["false"] == {"ran": False, "reason": "reencode=false"}
    assert records["true"]["mode"] == "nonnegative" and records["true"]["unsigned"] > 5
    assert records["true"]["pairs"] == records["true"]["unsigned"]  # signed ones stay int8
    assert (outputs["true"].argmax(1) == outputs["false"].argmax(1)).mean() >= 0.98
    assert (outputs["true"].argmax(1) == labels).mean() >= 0.95


def _activation_graph(activation: str, scale: float) -> onnx.ModelProto:
    """x -> Q -> DQ -> Relu or Clip(0, 6) -> Q -> DQ -> y, both Qs symmetric int8 of one scale."""
    inits = [
        numpy_helper.from_array(np.array(scale, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.int8), "zp"),
        numpy_helper.from_array(np.array(0.0, np.float32), "low"),
        numpy_helper.from_array(np.array(6.0, np.float32), "high"),
    ]
    act = ["dq", "low", "high"] if activation == "Clip" else ["dq"]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"]),
        helper.make_node(activation, act, ["a"]),
        helper.make_node("QuantizeLinear", ["a", "s", "zp"], ["qa"]),
        helper.make_node("DequantizeLinear", ["qa", "s", "zp"], ["y"]),
    ]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [9]) for n in ("x", "y")]
    graph = helper.make_graph(nodes, "g", io[:1], io[1:], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize(
    ("activation", "scale", "clips", "dropped"),
    [("Relu", 0.05, 0, 1), ("Clip", 6 / 127, 1, 1), ("Clip", 0.1, 0, 0)],
    ids=["relu", "relu6-saturating-at-6", "relu6-inside-the-range"],
)
def test_zero_point_0_differs_from_the_file_only_from_127_5_steps_up(
    activation, scale, clips, dropped
):
    import onnxruntime as ort

    model = _activation_graph(activation, scale)
    x = np.array([-9.0, -0.02, 0.0, 0.4, 1.0, 126.4, 127.4, 127.6, 300], np.float32) * scale
    before = literal_session(model).run(None, {"x": x})[0]
    done = reencode_activations(model, "fast")
    assert (done.clips, done.dropped, done.unsigned) == (clips, dropped, ("a",))
    after = literal_session(model).run(None, {"x": x})[0]
    fused = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    assert np.array_equal(fused, after)  # ORT's Relu/Clip-into-Q fusion changes nothing
    steps = np.round(x / np.float32(scale))
    # A Clip that stays bounds the values to 6 = 60 steps: nothing reaches 127.5 steps.
    saturated = steps >= 128 if dropped else np.zeros(len(x), bool)
    assert np.array_equal(after[~saturated], before[~saturated])
    expected = np.minimum(steps[saturated], 255) * np.float32(scale)
    assert np.allclose(after[saturated], expected, rtol=1e-6)
    assert (before[saturated] == np.float32(127 * np.float32(scale))).all()


def _qdq_graph(extra_reader: bool) -> onnx.ModelProto:
    """x -> Q(s8, zp 0) -> DQ -> Identity, and optionally the int8 tensor as a graph output."""
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.int8), "zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"]),
        helper.make_node("Identity", ["dq"], ["y"]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])]
    if extra_reader:
        outputs.append(helper.make_tensor_value_info("q", TensorProto.INT8, [4]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])], outputs, inits
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_rewrite_is_exact_at_the_int8_range_ends_and_skips_int8_outputs():
    import onnxruntime as ort

    model = _qdq_graph(extra_reader=False)
    x = np.array([-9.0, -6.4, 0.026, 6.35], np.float32)  # saturates at -128 and +127
    before = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    done = reencode_activations(model, "exact")
    after = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    assert (done.pairs, done.dequantize, done.skipped) == (1, 1, 0)
    assert np.array_equal(before, after)
    kept = _qdq_graph(extra_reader=True)
    assert reencode_activations(kept).skipped == 1  # a graph output stays int8


@pytest.mark.slow
@x86
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_full_size_rewrites_are_exact_and_int8_beats_fp32_on_onnxruntime(tmp_path, name):
    import torch

    from deploykit.bench.timing import TimingConfig, measure_runner
    from deploykit.sources import load_model

    torch.manual_seed(0)
    loaded = load_model(name)
    calib = make_calibration_set("digits", 64, 0, tmp_path / "c.npz")
    fp32 = export_model(loaded, ExportRequest(out_dir=tmp_path, verify=False))
    request = ExportRequest(precision="int8", calib=calib, out_dir=tmp_path, verify=False)
    int8 = export_model(str(fp32.artifact), request)
    x = prepare(load_dataset("digits", "test", limit=8).images, loaded.spec)
    # Random weights: most images push some activation past its calibrated range, so the
    # in-range share is not asserted here (the digits-trained model's test does).
    original, fast = check_rewrites(onnx.load(int8.artifact), x, min_in_range=0)
    assert (fast.argmax(1) == original.argmax(1)).mean() >= 0.75
    # Interleaved rounds on a shared machine; the default (fast) INT8 measured 2.3-2.8x
    # (resnet18) and 1.6-1.9x (mobilenet_v2) ORT FP32 here at load 13-16 on 2 cores.
    spec, config = loaded.spec.with_batch(1), TimingConfig(min_iters=10, min_s=1.0)
    runners = [
        open_runner("onnxruntime", path, spec, RunnerOptions(threads=2, precision=p))
        for path, p in ((fp32.artifact, "fp32"), (int8.artifact, "int8"))
    ]
    rounds = [[measure_runner(r, x[:1], config).p50_ms for r in runners] for _ in range(3)]
    for runner in runners:
        runner.close()
    ratio = np.median([fp32_ms / int8_ms for fp32_ms, int8_ms in rounds])
    assert ratio > 1.2, rounds
