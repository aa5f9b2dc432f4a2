"""TensorRT per layer (NVIDIA GPU): marked outputs for accuracy, IProfiler times by source node."""

from __future__ import annotations

import pytest

from deploykit.layers.api import LayersRequest, layer_report
from deploykit.layers.report import slowest_layers, worst_layers
from deploykit.tensorrt_compat import gpu_ready
from tests.layers.conftest import CULPRIT_NODE

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not gpu_ready(), reason="needs TensorRT and a CUDA GPU"),
]


def test_tensorrt_ranks_the_culprit_and_attributes_its_time(culprit, layers_work):
    request = LayersRequest(backends=("tensorrt",), samples=16, runs=20)
    report = layer_report(culprit["int8"], request, layers_work / "trt")
    assert worst_layers(report, "tensorrt")[0].node == CULPRIT_NODE
    assert (
        "marking outputs changes TensorRT's fusions"
        in report.backends["tensorrt"]["accuracy"]["method"]
    )
    slowest = slowest_layers(report, "tensorrt")
    assert slowest and all(
        r.op in ("Conv", "Gemm", "Add", "ReduceMean", "Reshape", "Relu") for r in slowest
    )
    summary = report.backends["tensorrt"]["latency"]
    assert 0.5 < summary["ratio"] < 1.5, summary
