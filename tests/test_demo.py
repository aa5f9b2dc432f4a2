"""The embedded default, end to end (one model, short timing)."""

import json

from deploykit.demo import DemoConfig, run_demo
from deploykit.optional import available


def test_demo_trains_exports_and_benchmarks_every_precision(tmp_path, trained_resnet):
    config = DemoConfig(
        out_dir=tmp_path,
        models=("demo_resnet",),
        calib_samples=64,
        prune_epochs=2,
        min_time=0.05,
    )
    result = run_demo(config)
    rows = {(c.label, c.backend): c for c in result.run.cells}
    expected = {
        ("demo_resnet.pt2", "torch"),
        ("demo_resnet.onnx", "onnxruntime"),
        ("demo_resnet_fp16.onnx", "onnxruntime"),
        ("demo_resnet_int8.onnx", "onnxruntime"),
    }
    if available("tensorflow"):
        expected |= {
            ("demo_resnet_tflite.tflite", "litert"),
            ("demo_resnet_int8_tflite.tflite", "litert"),
        }
    if available("openvino"):
        expected |= {("demo_resnet_int8.onnx", "openvino")}
    assert expected <= set(rows)
    for key in expected:
        cell = rows[key]
        assert cell.status == "ok", (key, cell.error)
        assert cell.accuracy["top1"] > 0.95, key
        assert cell.fidelity["top1_agreement"] > 0.97, key
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["cells"]) == len(result.run.cells)
    assert (tmp_path / "demo_resnet" / "demo_resnet_int8.json").is_file()
