"""Per-layer latency: a deliberately slow layer ranks first on ONNX Runtime and OpenVINO."""

from __future__ import annotations

import pytest

from deploykit.layers.api import LayersRequest, layer_report
from deploykit.layers.graph import Attribution, Graph
from deploykit.layers.report import slowest_layers


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_slow_layer_ranks_first(backend, slow, layers_work):
    if backend == "openvino":
        pytest.importorskip("openvino", reason="needs the openvino extra")
    request = LayersRequest(
        reference=str(slow), backends=(backend,), accuracy=False, runs=10, samples=1
    )
    report = layer_report(slow, request, layers_work / f"slow-{backend}")
    ranking = slowest_layers(report, backend)
    graph = Graph.load(slow)
    convs = [n for n in graph.layers() if graph.op(n) == "Conv"]
    assert ranking[0].node == convs[2], [(r.node, r.latency[backend]["ms"]) for r in ranking[:3]]
    assert ranking[0].latency[backend]["share"] > 0.4
    summary = report.backends[backend]["latency"]
    assert summary["layer_sum_ms"] > 0 and summary["e2e_median_ms"] > 0
    assert summary["ratio"] == pytest.approx(summary["layer_sum_ms"] / summary["e2e_median_ms"])
    assert "unattributed" not in [r.node for r in report.layers]
    lost = report.unattributed[backend]
    assert lost["kernels"] == []
    # The gap is measured, not guessed, and its parts add up to it.
    assert lost["gap_ms"] == pytest.approx(summary["e2e_median_ms"] - summary["layer_sum_ms"])
    parts = lost["spread_ms"] + (lost["between_kernels_ms"] or 0) + lost["outside_run_ms"]
    assert lost["gap_ms"] == pytest.approx(parts - lost["profiling_ms"])
    assert lost["runqueue_wait_ms"] >= 0
    assert (lost["between_kernels_ms"] is None) == (backend == "openvino")


def test_every_ort_kernel_of_a_qdq_model_is_attributed(culprit):
    import numpy as np

    from deploykit.layers.latency import attribute
    from deploykit.layers.profile_ort import profile_onnxruntime

    sample = np.zeros((1, 3, 32, 32), np.float32)
    profile = profile_onnxruntime(culprit["int8"], sample, runs=3, warmup=1)
    attribution = Attribution(Graph.load(culprit["fp32"]), Graph.load(culprit["int8"]))
    rows, lost, _ = attribute(profile, attribution)
    # ORT renamed the fused convs (node_Conv_138_token_39, QLinearConv) and added Transposes.
    renamed = [k.name for k in profile.kernels if "_token_" in k.name]
    assert renamed and lost["kernels"] == []
    assert {"node_Conv_138", "node_linear"} <= set(rows)


def test_the_gap_reason_names_measured_parts():
    from deploykit.layers.latency import gap_reason

    load = {"load_average": 12.0, "cpus": 2}
    gap = {"gap_ms": 40.0, "spread_ms": 9.0, "between_kernels_ms": 30.0, "outside_run_ms": 3.0,
           "profiling_ms": 2.0, "runqueue_wait_ms": 35.0}  # fmt: skip
    busy = gap_reason([], gap, load)
    assert "40.000 ms per inference is in no kernel's median time (9.000 ms kernels ran" in busy
    assert "30.000 ms between kernels inside the runtime's run; 3.000 ms around the run" in busy
    assert "profiling itself +2.000 ms" in busy
    assert "waited 35.000 ms per inference in the CPU run queue (load average 12 on 2 CPUs)" in busy
    assert "waiting for CPUs other processes held" in busy
    quiet = gap_reason([], {**gap, "runqueue_wait_ms": 2.0}, load)
    assert "the runtime's own" in quiet
    ov = gap_reason([], {**gap, "between_kernels_ms": None}, {})
    assert "3.000 ms between kernels and around them (this runtime times no whole run)" in ov
    over = gap_reason([], {**gap, "gap_ms": -1.0}, load)
    assert "1.000 ms more than the end-to-end median: a profiled run took +2.000 ms" in over
