"""No silent overwrites, artifact names that say what differs, and the budget's paired verdict."""

from __future__ import annotations

import numpy as np
import pytest

from deploykit.errors import InputError
from deploykit.export import ExportRequest, export_model
from deploykit.export.accuracy_budget import budget_lines, resolution, within_budget
from deploykit.sources import SourceOptions, load_model

SMALL = SourceOptions(num_classes=10, input_shape=(1, 3, 32, 32))


def test_a_different_export_never_replaces_a_file_silently(tmp_path, trained_resnet):
    request = ExportRequest(out_dir=tmp_path, verify=False)
    first = export_model(trained_resnet, request)
    again = export_model(trained_resnet, request)  # the same export: replaces its own file
    assert again.artifact == first.artifact
    # Other weights (a random init) under the same name: refused, nothing touched.
    before = first.artifact.read_bytes()
    other = load_model("demo_resnet", SMALL)
    with pytest.raises(InputError, match=r"written by a different export.*--force"):
        export_model(other, request)
    assert first.artifact.read_bytes() == before
    forced = export_model(other, ExportRequest(out_dir=tmp_path, verify=False, force=True))
    assert forced.artifact == first.artifact and forced.artifact.read_bytes() != before


def test_names_say_what_sets_an_artifact_apart(tmp_path, trained_resnet):
    from deploykit.export.api import artifact_name

    name = trained_resnet.name
    cases = [
        (ExportRequest(precision="int8"), f"{name}_int8.onnx"),
        (ExportRequest(precision="int8", options={"activations": "uint8"}),
         f"{name}_int8_activations-uint8.onnx"),
        (ExportRequest(precision="int8", options={"activations": "int8"}), f"{name}_int8.onnx"),
        (ExportRequest(precision="int8", max_accuracy_drop=1.0, eval_data="digits"),
         f"{name}_int8_drop1.onnx"),
        (ExportRequest(target="tflite", precision="int8", options={"io": "int8"}),
         f"{name}_int8_io-int8_tflite.tflite"),
    ]  # fmt: skip
    for request, expected in cases:
        assert artifact_name(trained_resnet, request) == expected


def test_budget_with_tflite_is_refused_in_one_line(trained_resnet, tmp_path):
    request = ExportRequest(
        target="tflite",
        precision="int8",
        out_dir=tmp_path,
        max_accuracy_drop=1.0,
        eval_data="digits",
    )
    with pytest.raises(InputError, match="--max-accuracy-drop works on ONNX and TensorRT"):
        export_model(trained_resnet, request)
    assert not any(tmp_path.iterdir())


def test_budget_is_judged_by_the_paired_test():
    labels = np.arange(400) % 10
    right = np.eye(10)[labels]
    reference = right.copy()
    # INT8 loses 3 images (0.75 points): over a 0.5-point budget, but not significant.
    few = right.copy()
    few[:3] = np.roll(right[:3], 1, axis=1)
    ok, test = within_budget(reference, few, labels, max_drop=0.5)
    assert ok and test.worse == 3 and test.p_value > 0.05
    # 12 images all one way (3 points): significant, over budget.
    many = right.copy()
    many[:12] = np.roll(right[:12], 1, axis=1)
    ok, test = within_budget(reference, many, labels, max_drop=0.5)
    assert not ok and test.p_value < 0.05
    assert within_budget(reference, many, labels, max_drop=3.0)[0]
    res = resolution(400)
    assert res == {"image_points": 0.25, "min_significant_images": 6, "min_significant_points": 1.5}


def test_budget_lines_carry_units_resolution_and_warnings():
    record = {
        "n": 400, "eval": "digits:test", "fp32_top1": 98.75, "int8_top1": 98.5, "drop": 0.25,
        "max_drop": 1.0, "fp32_fallback": [], "resolution": resolution(400),
        "paired": {"p_value": 1.0}, "warnings": ["the model has 1000 outputs but digits has 10"],
    }  # fmt: skip
    lines = budget_lines(record)
    assert "top-1 FP32 98.75 %, INT8 98.50 % (drop 0.25 points, budget 1)" in lines[0]
    assert "one image is 0.25 points" in lines[1] and "under 6 images (1.50 points)" in lines[1]
    assert lines[2] == "warning: the model has 1000 outputs but digits has 10"


def test_budget_lines_show_why_each_layer_stayed_fp32():
    kept = {
        "node": "node_Conv_146", "layer": "stages.1.conv2", "op": "Conv", "rank": 1, "of": 10,
        "top1_alone_int8": 17.25, "cosine_alone_int8": 0.2564, "local_sqnr_db": 15.79,
        "sqnr_db": -1.78, "top1_after": 19.25,
    }  # fmt: skip
    record = {
        "n": 400, "eval": "digits:test", "fp32_top1": 98.75, "int8_top1": 98.5, "drop": 0.25,
        "max_drop": 1.0, "fp32_fallback": [kept, {**kept, "rank": 2, "local_sqnr_db": None}],
    }  # fmt: skip
    lines = budget_lines(record)
    assert "10 layers ranked" in lines[1]
    header, first, second = lines[2].split(), lines[3].split(), lines[4].split()
    assert header[:4] == ["layer", "node", "op", "rank"]
    assert first == ["stages.1.conv2", "node_Conv_146", "Conv", "1/10", "17.25", "0.2564",
                     "15.8", "-1.8", "19.25"]  # fmt: skip
    assert second[3] == "2/10" and second[6] == "-"
