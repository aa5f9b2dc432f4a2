"""run_bench through the library: real runners, accuracy, fidelity against the reference."""

import json

import pytest

from deploykit.bench import BenchConfig, TimingConfig, run_bench
from deploykit.bench.results import read_results
from deploykit.bench.subjects import default_backends
from deploykit.errors import InputError
from deploykit.export import ExportRequest, export_model
from deploykit.optional import available
from deploykit.sources.pt2 import save_program

QUICK = TimingConfig(warmup_iters=2, warmup_s=0.0, min_iters=5, min_s=0.05)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, trained_resnet):
    out = tmp_path_factory.mktemp("bench")
    pt2 = save_program(
        trained_resnet.model,
        trained_resnet.spec,
        out / "resnet.pt2",
        source=trained_resnet.source,
        num_classes=10,
    )
    onnx = export_model(trained_resnet, ExportRequest(out_dir=out)).artifact
    return pt2, onnx


def test_torch_reference_and_onnx_agree_and_classify(artifacts, tmp_path):
    pt2, onnx = artifacts
    run = run_bench([str(pt2), str(onnx)], BenchConfig(batch_sizes=(1, 4), timing=QUICK, limit=200))
    # Without --backend, an ONNX file runs on every installed backend that runs ONNX.
    onnx_backends = default_backends("onnx")
    assert onnx_backends[0] == "onnxruntime"
    assert ("openvino" in onnx_backends) == available("openvino")
    assert [(c.backend, c.batch) for c in run.cells] == [
        ("torch", 1),
        ("torch", 4),
        *[(b, batch) for b in onnx_backends for batch in (1, 4)],
    ]
    assert all(c.status == "ok" for c in run.cells)
    ref, ort_cell = run.cells[0], run.cells[2]
    assert ref.reference and ref.speedup == pytest.approx(1.0)
    assert ref.accuracy["top1"] > 0.95 and ref.accuracy["n"] == 200
    assert ort_cell.fidelity["top1_agreement"] == 1.0 and ort_cell.fidelity["cosine"] > 0.9999
    assert ort_cell.accuracy["top1"] == pytest.approx(ref.accuracy["top1"])
    for cell in run.cells:
        lat = cell.latency
        assert (
            lat["n"] >= 5
            and lat["min_ms"] <= lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["max_ms"]
        )
        assert lat["throughput"] == pytest.approx(cell.batch * 1e3 / lat["mean_ms"])
    path = run.write_json(tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert (
        data["schema"] == "deploykit.bench/2" and data["environment"]["cpu"]["logical_cores"] >= 1
    )
    assert {f["batch"] for f in data["fastest"]} == {1, 4}
    assert read_results(path).cells[2].fidelity == ort_cell.fidelity


def test_a_backend_that_cannot_open_fails_its_cell_only(artifacts, monkeypatch):
    import onnxruntime

    _pt2, onnx = artifacts
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA: ort-cuda would succeed")
    run = run_bench(
        [str(onnx)], BenchConfig(backends=("onnxruntime", "ort-cuda"), timing=QUICK, limit=32)
    )
    status = {c.backend: c.status for c in run.cells}
    assert status == {"onnxruntime": "ok", "ort-cuda": "failed"}
    assert "CUDAExecutionProvider" in run.cells[1].error


def test_bad_bench_requests():
    with pytest.raises(InputError, match="nothing to benchmark"):
        run_bench([], BenchConfig())
    with pytest.raises(InputError, match="--backend: unknown value 'tvm'"):
        BenchConfig(backends=("tvm",))


def test_results_file_errors(tmp_path):
    (tmp_path / "x.json").write_text('{"schema": "other"}')
    with pytest.raises(InputError, match="not a deploykit results file"):
        read_results(tmp_path / "x.json")
    with pytest.raises(InputError, match="does not exist"):
        read_results(tmp_path / "none.json")
