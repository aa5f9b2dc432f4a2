"""Suites on a fleet: the devices keys, and TensorRT exports turned into on-device builds."""

from __future__ import annotations

import pytest

from deploykit.bench.suite import load_suite, prepare_items
from deploykit.errors import InputError

SUITE = """\
name: fleet-trt
models:
  - {ref: demo_resnet, source: false}
exports:
  - {target: onnx, precision: fp32}
  - {target: trt, precision: fp16, options: {workspace: 512}}
devices: [x86-box, "orin=orin-nano-*"]
device_retry: true
device_timeout_s: 30
"""


def test_devices_keys_and_engines_built_on_the_devices(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(SUITE)
    suite = load_suite(path)
    assert suite.fleet.devices == ("x86-box", "orin=orin-nano-*")
    assert suite.fleet.device_timeout_s == 30 and suite.fleet.device_retry
    entries = suite.fleet.entries()
    assert [(e.match, e.pool, e.retry) for e in entries] == [
        ("x86-box", None, False),
        ("orin-nano-*", "orin", True),
    ]
    items, records = prepare_items(suite, tmp_path / "out", on_devices=True)
    onnx, engine = items
    assert onnx.engine is None and onnx.ref.endswith(".onnx")
    # the TensorRT export became the FP32 ONNX graph plus the build request for each device
    assert engine.ref.endswith(".onnx") and engine.ref == onnx.ref
    assert engine.engine == {"precision": "fp16", "options": {"workspace": 512}}
    assert records[1]["target"] == "trt" and records[1]["reused"] is True


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("devices: [bad name]", "not usable"),
        ("devices: [orin=]", "has no pattern"),
        ("device_timeout_s: -1", "device_timeout_s"),
    ],
)
def test_bad_device_keys_are_one_line(tmp_path, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text("models: [demo_resnet]\n" + line + "\n")
    with pytest.raises(InputError, match=message):
        load_suite(path)
