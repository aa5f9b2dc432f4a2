"""The terminal report: tables that fit the terminal, every requested backend, plain-text hints."""

from __future__ import annotations

import dataclasses
import io

import pytest
from rich.console import Console

from deploykit.bench import BenchConfig, TimingConfig, run_bench
from deploykit.bench.api import BenchItem
from deploykit.bench.report import print_report
from deploykit.bench.results import read_results
from deploykit.errors import DataMismatchError
from deploykit.sources import SourceOptions

QUICK = TimingConfig(warmup_iters=1, warmup_s=0.0, min_iters=3, min_s=0.01)


def render(run, width: int, wide: bool = False) -> str:
    buffer = io.StringIO()
    print_report(Console(file=buffer, width=width, color_system=None), run, wide)
    return buffer.getvalue()


def test_tables_fit_100_columns_and_show_every_number(smoke_run):
    run = read_results(smoke_run / "results.json")
    text = render(run, 100)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines() if "│" in line) <= 100
    assert "latency" in text and "accuracy on" in text
    for cell in run.cells:
        assert f"{cell.latency['p50_ms']:.2f}" in text
        assert f"{cell.accuracy['top1'] * 100:.1f}" in text
    wide = render(run, 100, wide=True)
    assert "…" not in wide and "RSS MiB" in wide and "p90 ms" in wide and "top-5 %" in wide
    assert max(len(line) for line in wide.splitlines()) > 100


def test_hints_with_brackets_are_printed_as_written(smoke_run):
    run = read_results(smoke_run / "results.json")
    hint = 'TensorRT is not installed (pip install "deploykit[gpu]")'
    failed = dataclasses.replace(
        run.cells[0], backend="tensorrt", status="failed", error=hint, reference=False
    )
    text = render(dataclasses.replace(run, cells=[*run.cells, failed]), 100)
    assert hint in text.replace("\n", " ")


def test_every_requested_backend_gets_a_row(smoke_onnx):
    """A backend that cannot run the item is a failed row saying why, never swapped or dropped."""
    config = BenchConfig(backends=("tensorrt",), timing=QUICK, limit=16, isolate=False, threads=1)
    alone = run_bench([str(smoke_onnx)], config)
    assert [(c.backend, c.status) for c in alone.cells] == [("tensorrt", "failed")]
    assert "tensorrt runs engine models, not onnx" in alone.cells[0].error
    both = run_bench(
        [str(smoke_onnx)], dataclasses.replace(config, backends=("onnxruntime", "tensorrt"))
    )
    assert [(c.backend, c.status) for c in both.cells] == [
        ("onnxruntime", "ok"),
        ("tensorrt", "failed"),
    ]
    assert "failed: demo_resnet.onnx on tensorrt" in render(both, 100)


def test_class_count_mismatch_is_a_warning(smoke_onnx):
    """A 12-output model benched on 10-class digits against a 10-output reference."""
    config = BenchConfig(
        timing=QUICK, limit=32, isolate=False, threads=1, backends=("onnxruntime", "torch")
    )
    twelve = BenchItem("demo_resnet", SourceOptions(num_classes=12))
    run = run_bench([str(smoke_onnx), twelve], config)
    text = render(run, 100)
    assert "! demo_resnet on torch: the model has 12 outputs but digits has 10 classes" in text
    assert "has 12 outputs, the reference demo_resnet.onnx has 10" in text
    assert "demo_resnet.onnx on onnxruntime: the model" not in text


def test_labels_the_model_cannot_output_are_refused_before_timing(smoke_onnx):
    """A 3-output model cannot score digits 3..9: the run stops at its accuracy pass."""
    config = BenchConfig(timing=QUICK, limit=32, isolate=False, threads=1, backends=("torch",))
    three = BenchItem("demo_resnet", SourceOptions(num_classes=3))
    cells = []
    with pytest.raises(DataMismatchError, match="labels go up to 9 but the model has 3 outputs"):
        run_bench([three], config, on_cell=lambda cell, done, total: cells.append(cell))
    assert cells == []
