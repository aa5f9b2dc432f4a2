"""The OpenVINO runner's rewrites around two OpenVINO CPU INT8 bugs (runners.openvino_quirks).

The one-layer graphs are those of benchmarks/openvino_shufflenet_repro.py. Which bug a
machine shows depends on its CPU (the grouped 1x1 one needs AMX; the pooling one shows
on every CPU with a zero point of 128, on CPUs without AMX also with the file as written),
so the runner tests assert what must hold everywhere: OpenVINO computes what the Q/DQ
graph says.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from deploykit.runners import RunnerOptions, open_runner
from deploykit.runners.openvino_quirks import dense_grouped_1x1, padded_avgpools_as_convs
from deploykit.spec import InputSpec, Preprocess

pytest.importorskip("openvino", reason="the openvino extra is not installed")

ROOT = Path(__file__).resolve().parents[2]


def _repro():
    path = ROOT / "benchmarks" / "openvino_shufflenet_repro.py"
    spec = importlib.util.spec_from_file_location("openvino_shufflenet_repro", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REPRO = _repro()


def test_grouped_1x1_rewrite_computes_the_same_sums():
    model, feeds = REPRO.grouped_1x1(80)
    dense = copy.deepcopy(model)
    assert dense_grouped_1x1(dense) == 1
    conv = next(n for n in dense.graph.node if n.op_type == "Conv")
    assert all(a.name != "group" for a in conv.attribute)  # ungrouped now
    assert np.array_equal(REPRO.reference(dense, feeds), REPRO.reference(model, feeds))
    for fits in (64, 128):  # channel counts the AMX kernel gets right stay grouped
        assert dense_grouped_1x1(REPRO.grouped_1x1(fits)[0]) == 0


def test_padded_avgpool_rewrite_computes_the_same_average():
    model, feeds = REPRO.padded_avgpool(128, conv_reader=True)
    conv = copy.deepcopy(model)
    assert padded_avgpools_as_convs(conv) == 1
    assert not [n for n in conv.graph.node if n.op_type == "AveragePool"]
    np.testing.assert_allclose(
        REPRO.reference(conv, feeds), REPRO.reference(model, feeds), rtol=0, atol=1e-5
    )


@pytest.mark.parametrize(
    "case",
    ["grouped", "pool int8", "pool uint8 zero point 128"],
)
@pytest.mark.parametrize("reencode", ["false", "nonnegative", "exact"])
@pytest.mark.parametrize("precision", ["auto", "f32"])  # they pick different kernels
def test_openvino_runner_computes_what_the_qdq_graph_says(tmp_path, case, reencode, precision):
    import onnx

    model, feeds = {
        "grouped": lambda: REPRO.grouped_1x1(80),
        "pool int8": lambda: REPRO.padded_avgpool(0, conv_reader=True),
        "pool uint8 zero point 128": lambda: REPRO.padded_avgpool(128, conv_reader=True),
    }[case]()
    path = tmp_path / "graph.onnx"
    onnx.save(model, path)
    x = feeds["x"]
    spec = InputSpec(x.shape, name="x", preprocess=Preprocess(mean=(0.0,), std=(1.0,)))
    extra = {"reencode": reencode, "inference_precision": precision}
    with open_runner("openvino", path, spec, RunnerOptions(2, "int8", extra)) as runner:
        out = runner.infer(x)
    # Within one quantization step of the input (re-encoding may move a rounding).
    assert np.abs(out - REPRO.reference(model, feeds)).max() <= 1.01 * REPRO.STEP


def test_shufflenet_int8_on_openvino_agrees_with_onnxruntime(tmp_path):
    """ShuffleNet V1 (seeded, untrained: the trained one takes minutes) as the runner opens it."""
    import torch

    from deploykit.calibration import make_calibration_set
    from deploykit.data import load_dataset, prepare
    from deploykit.export import ExportRequest, export_model
    from deploykit.runners.cpu import local_int8_weights
    from deploykit.sources import SourceOptions, load_model

    torch.manual_seed(0)
    loaded = load_model("shufflenet_v1_small", SourceOptions(num_classes=10))
    calib = make_calibration_set("digits", 32, 0, tmp_path / "calib.npz")
    request = ExportRequest(
        precision="int8",
        calib=calib,
        out_dir=tmp_path,
        verify=False,
        options={"weights": local_int8_weights()},
    )
    int8 = export_model(loaded, request)
    x = prepare(load_dataset("digits", "test", limit=64).images, loaded.spec)

    def logits(backend, **extra):
        options = RunnerOptions(threads=2, precision="int8", extra=extra)
        with open_runner(backend, int8.artifact, loaded.spec, options) as runner:
            return runner.infer(x), runner.info.details

    reference, _ = logits("onnxruntime", reencode=False)
    for reencode in ("nonnegative", "false", "exact"):
        out, details = logits("openvino", reencode=reencode)
        cosine = (out * reference).sum(1) / np.linalg.norm(out, axis=1)
        cosine /= np.linalg.norm(reference, axis=1)
        # 0.94-0.98 before the rewrites on an AMX CPU, 0.97 as written on one without
        assert cosine.min() > 0.99, (reencode, cosine.min(), details)
        if reencode != "nonnegative":  # its three pools read int8 (or zero point 128) tensors
            assert details["openvino_workarounds"]["padded_avgpools_as_convs"] == 3


def test_ir_with_affected_grouped_convs_gets_a_warning_on_amx_cpus():
    import openvino as ov

    from deploykit.runners.openvino_quirks import amx_in_use, ir_warning

    amx = amx_in_use()
    core = ov.Core()
    for per_group, affected in ((80, True), (64, False)):
        model = core.read_model(REPRO.grouped_1x1(per_group)[0].SerializeToString(), b"")
        warning = ir_warning(model)
        assert (warning is not None) == (amx and affected), warning
        if warning:
            assert "80 input channels per group" in warning
