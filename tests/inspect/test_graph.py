"""Graph summaries of ONNX files: ops, Q/DQ counts, I/O, opset, size."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from deploykit.inspect.graph import summarize_graph


@pytest.fixture
def qdq_onnx(tmp_path):
    """A small Q/DQ graph: quantize the input, dequantize, conv with int8 weights, relu."""
    rng = np.random.default_rng(0)
    weight = rng.integers(-127, 127, size=(4, 3, 3, 3), dtype=np.int8)
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "x_zero"),
        numpy_helper.from_array(weight, "w_q"),
        numpy_helper.from_array(np.full(4, 0.01, np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(4, np.int8), "w_zero"),
        numpy_helper.from_array(np.zeros(4, np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "x_scale", "x_zero"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zero"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], axis=0),
        helper.make_node("Conv", ["xd", "w", "bias"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4, 8, 8])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path = tmp_path / "qdq.onnx"
    onnx.save(model, path)
    ort.InferenceSession(str(path))  # a real, runnable graph
    return path


def test_onnx_summary_counts_ops_and_qdq(qdq_onnx):
    summary = summarize_graph(qdq_onnx)
    assert summary.format == "onnx"
    assert summary.ops == {"DequantizeLinear": 2, "QuantizeLinear": 1, "Conv": 1, "Relu": 1}
    assert summary.quantized == {"QuantizeLinear": 1, "DequantizeLinear": 2}
    assert summary.nodes == 5
    assert summary.inputs == [{"name": "input", "shape": ["batch", 3, 8, 8], "dtype": "float32"}]
    assert summary.outputs[0]["name"] == "logits"
    assert summary.opset == {"ai.onnx": 18}
    assert summary.size_bytes == qdq_onnx.stat().st_size
    assert summary.params == 1 + 1 + 108 + 4 + 4 + 4


def test_cli_graph_summary_json_and_table(cli, qdq_onnx):
    result = cli("inspect", qdq_onnx, "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["quantized"]["QuantizeLinear"] == 1 and data["opset"] == {"ai.onnx": 18}
    table = cli("inspect", qdq_onnx)
    assert table.code == 0 and "DequantizeLinear" in table.stdout and "batchx3x8x8" in table.stdout


def test_bad_graph_files_are_one_line(cli, user_error, tmp_path):
    user_error(cli("inspect", tmp_path / "missing.onnx"), "does not exist")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00garbage" * 10)
    user_error(cli("inspect", junk), "cannot read")
    user_error(cli("inspect", junk, "--feature-maps", junk), "needs a torch model")


@pytest.mark.slow
def test_tflite_summary(trained_resnet, tmp_path):
    pytest.importorskip("ai_edge_litert")
    from deploykit.export import ExportRequest, export_model

    request = ExportRequest(target="tflite", out_dir=tmp_path, verify=False)
    artifact = export_model(trained_resnet, request).artifact
    summary = summarize_graph(artifact)
    assert summary.format == "tflite" and summary.nodes > 0
    assert summary.inputs[0]["dtype"] == "float32"
    assert summary.outputs[0]["shape"][-1] == 10
