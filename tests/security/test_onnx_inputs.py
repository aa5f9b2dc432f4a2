"""ONNX inputs deploykit cannot feed are refused in one line; external data is never left behind;
--opset is checked against the exporter and the manifest records the opset written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from tests.security.hostile import save_small_program


def _model(path: Path, inputs: list, body: list, initializers=(), out_rank: int = 2) -> Path:
    out_shape = [f"d{i}" for i in range(out_rank)]
    graph = helper.make_graph(
        body,
        "g",
        inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_shape)],
        list(initializers),
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def _input(name: str, dtype, shape) -> object:
    return helper.make_tensor_value_info(name, dtype, shape)


CASES = {
    "no input": (
        [],
        [helper.make_node("Constant", [], ["logits"], value_floats=[1.0])],
        "0 inputs",
    ),
    "two inputs": (
        [
            _input("a", TensorProto.FLOAT, [1, 3, 8, 8]),
            _input("b", TensorProto.FLOAT, [1, 3, 8, 8]),
        ],
        [helper.make_node("Add", ["a", "b"], ["logits"])],
        "2 inputs (a, b)",
    ),
    "integer input": (
        [_input("x", TensorProto.INT64, [1, 3, 8, 8])],
        [helper.make_node("Cast", ["x"], ["logits"], to=TensorProto.FLOAT)],
        "is int64",
    ),
    "rank 2": (
        [_input("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_node("Identity", ["x"], ["logits"])],
        "rank 2",
    ),
    "huge dimension": (
        [_input("x", TensorProto.FLOAT, [1, 3, 100000, 100000])],
        [helper.make_node("Identity", ["x"], ["logits"])],
        "too large",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unsupported_inputs_are_one_line(case, tmp_path, cli, refused):
    inputs, body, fragment = CASES[case]
    rank = {"no input": 1, "rank 2": 2}.get(case, 4)
    model = _model(tmp_path / "m.onnx", inputs, body, out_rank=rank)
    out = tmp_path / "out"
    refused(cli("export", model, "--to", "onnx", "-o", out), out, fragment)


def test_external_data_is_inlined_on_export(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    weight = numpy_helper.from_array(np.full((1, 3, 8, 8), 0.25, np.float32), "w")
    model = _model(
        src / "m.onnx",
        [_input("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [
            helper.make_node("Add", ["input", "w"], ["s"]),
            helper.make_node("GlobalAveragePool", ["s"], ["p"]),
            helper.make_node("Flatten", ["p"], ["logits"]),
        ],
        [weight],
    )
    import onnx

    loaded = onnx.load(str(model))
    onnx.save(loaded, str(model), save_as_external_data=True, location="m.data", size_threshold=0)
    assert (src / "m.data").is_file()
    out = tmp_path / "out"
    result = cli("export", model, "--to", "onnx", "-o", out, "--verify-samples", "4")
    assert result.code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["m.json", "m.onnx"]
    (src / "m.data").unlink()  # the artifact must not need it
    exported = onnx.load(str(out / "m.onnx"))
    assert numpy_helper.to_array(exported.graph.initializer[0]).max() == np.float32(0.25)
    assert json.loads((out / "m.json").read_text())["exporter"]["external_data"] == "inlined"


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    return save_small_program(tmp_path_factory.mktemp("pt2") / "tiny.pt2")


@pytest.mark.parametrize("opset", ["99", "1"])
def test_unsupported_opset_is_refused(opset, program, tmp_path, cli, refused):
    out = tmp_path / "out"
    refused(
        cli("export", program, "--to", "onnx", "-o", out, "--opset", opset),
        out,
        "--opset",
        f"{opset} is out of range",
        "[7, 23]",
    )


def test_old_opset_is_written_and_recorded(tmp_path, cli):
    """Below opset 18 the TorchScript exporter writes the file (dynamo would write 18)."""
    import onnx

    out = tmp_path / "out"
    result = cli(
        "export", "demo_resnet", "--to", "onnx", "-o", out, "--opset", "13", "--verify-samples", "4"
    )
    assert result.code == 0, result.stderr
    written = next(
        o.version for o in onnx.load(str(out / "demo_resnet.onnx")).opset_import if o.domain == ""
    )
    manifest = json.loads((out / "demo_resnet.json").read_text())
    assert written == 13 and manifest["exporter"]["opset"] == 13
    assert manifest["exporter"]["mode"] == "torchscript"


def test_old_opset_for_a_program_is_refused(program, tmp_path, cli, refused):
    # A .pt2 program has no TorchScript path, and dynamo cannot write opset 13.
    out = tmp_path / "out"
    result = cli("export", program, "--to", "onnx", "-o", out, "--opset", "13")
    refused(result, out, "opset 13 could not be written", "--opset 18")
