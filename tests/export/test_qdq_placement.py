"""TensorRT-style Q/DQ placement (``--option placement=trt``), as NVIDIA Model Optimizer places it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from deploykit.calibration import make_calibration_set
from deploykit.data import load_dataset, prepare
from deploykit.errors import InputError
from deploykit.export import ExportRequest, export_model
from deploykit.export.qdq_placement import small_matmuls, trt_placement
from deploykit.runners import RunnerOptions, open_runner


def residual_block() -> onnx.ModelProto:
    """x -> Conv a -> Relu -> Conv b -> Add(x) -> Relu -> Conv c: one identity-shortcut block."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 4, 3, 3)).astype(np.float32), n)
        for n in ("wa", "wb", "wc")
    ]
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node("Relu", ["x"], ["x0"], name="stem"),
        helper.make_node("Conv", ["x0", "wa"], ["a"], name="conv_a", **conv),
        helper.make_node("Relu", ["a"], ["ar"], name="relu_a"),
        helper.make_node("Conv", ["ar", "wb"], ["b"], name="conv_b", **conv),
        helper.make_node("Add", ["b", "x0"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["sr"], name="relu_s"),
        helper.make_node("Conv", ["sr", "wc"], ["y"], name="conv_c", **conv),
    ]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4, 8, 8]) for n in ("x", "y")]
    graph = helper.make_graph(nodes, "block", [io[0]], [io[1]], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_residual_add_is_quantized_on_its_shortcut_only():
    nodes, keep_free = trt_placement(residual_block())
    assert set(nodes) == {"conv_a", "conv_b", "conv_c", "add"}  # no Relu, no output op
    assert keep_free == [("b", "add")]  # the conv backbone's input of the Add stays float


def head(batch: int | str, width: int, classes: int) -> onnx.ModelProto:
    """x [batch, width] -> Gemm (transB) -> y [batch, classes]: a classifier's final Linear."""
    w = np.ones((classes, width), np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, classes])
    graph = helper.make_graph(nodes, "head", [x], [y], [numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize(
    ("batch", "width", "classes", "small"),
    [
        ("batch", 512, 1000, True),  # dynamic batch: ModelOpt infers at 1, a GEMV
        (1, 512, 1000, True),
        (8, 512, 1000, False),  # a real GEMM: quantized
        (8, 8, 1000, True),  # K under 16
        (8, 512, 10, True),  # N under 16
    ],
)
def test_gemv_and_small_gemms_stay_float_as_modelopt_leaves_them(batch, width, classes, small):
    assert small_matmuls(head(batch, width, classes)) == ({"fc"} if small else set())
    nodes, _ = trt_placement(head(batch, width, classes))
    assert ("fc" in nodes) is not small


@pytest.fixture(scope="module")
def placed(tmp_path_factory, trained_resnet):
    out = tmp_path_factory.mktemp("placement")
    calib = make_calibration_set("digits", 32, 0, out / "c.npz")
    fp32 = export_model(trained_resnet, ExportRequest(out_dir=out, verify=False))
    request = ExportRequest(
        precision="int8", calib=calib, out_dir=out, options={"placement": "trt"}
    )
    return export_model(str(fp32.artifact), request)


def test_trt_placement_follows_tensorrts_rules_on_a_resnet(placed):
    graph = onnx.load(placed.artifact).graph
    producer = {o: n for n in graph.node for o in n.output}
    inits = {i.name: i.data_type for i in graph.initializer}
    adds = [n for n in graph.node if n.op_type == "Add"]
    assert adds
    for add in adds:  # one input through Q/DQ (the shortcut), one straight from the backbone
        assert sorted(producer[i].op_type for i in add.input) == ["Conv", "DequantizeLinear"]
    assert not any(
        n.op_type == "DequantizeLinear" and inits.get(n.input[0]) == TensorProto.INT32
        for n in graph.node
    )  # no bias quantization
    outputs = {o.name for o in graph.output}
    assert all(producer[o].op_type != "DequantizeLinear" for o in outputs)  # output stays float
    gemm = next(n for n in graph.node if n.op_type == "Gemm")  # the classifier, a GEMV at batch 1
    assert all(producer[i].op_type != "DequantizeLinear" for i in gemm.input if i in producer)
    assert placed.manifest.exporter["placement"] == "trt"
    assert placed.manifest.verification["passed"]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_trt_placed_artifact_classifies_digits(placed, backend):
    pytest.importorskip(backend)
    data = load_dataset("digits", "test", limit=300)
    x = prepare(data.images, placed.manifest.input)
    options = RunnerOptions(threads=2, precision="int8")
    with open_runner(backend, placed.artifact, placed.manifest.input, options) as runner:
        assert (runner.infer(x).argmax(1) == data.labels).mean() >= 0.95


def test_unknown_placement_is_a_user_error(tmp_path):
    with pytest.raises(InputError, match="placement"):
        ExportRequest(precision="int8", out_dir=tmp_path, options={"placement": "fastest"})
