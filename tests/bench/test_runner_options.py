"""``--runner-option KEY=VALUE``: declared per backend in the capability table, checked, applied."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from deploykit.targets import BACKENDS


@pytest.fixture(scope="module")
def int8_onnx(tmp_path_factory, trained_resnet) -> Path:
    """The digits-trained demo_resnet as a 32x32 INT8 Q/DQ file (with its manifest)."""
    from deploykit.calibration import make_calibration_set
    from deploykit.export import ExportRequest, export_model

    out = tmp_path_factory.mktemp("int8")
    calib = make_calibration_set("digits", 32, 0, out / "c.npz")
    fp32 = export_model(trained_resnet, ExportRequest(out_dir=out, verify=False))
    request = ExportRequest(precision="int8", calib=calib, out_dir=out, verify=False)
    return export_model(str(fp32.artifact), request).artifact


def _cells(result) -> dict[str, dict]:
    return {c["backend"]: c for c in json.loads(Path(result).read_text())["cells"]}


@pytest.mark.parametrize("value", ["false", "exact"])
def test_runner_option_reaches_the_runner_and_is_recorded(cli, int8_onnx, tmp_path, value):
    """The same file, re-encoded or not as asked, on both CPU runners; accuracy unchanged."""
    out = tmp_path / "r.json"
    result = cli(
        "bench", int8_onnx, "--backend", "onnxruntime,openvino", "--runner-option",
        f"reencode={value}", "--limit", "64", "--iters", "3", "--min-time", "0",
        "--warmup", "1", "--warmup-time", "0", "--no-isolate", "--json", out,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    record = json.loads(out.read_text())
    assert record["config"]["runner_extra"] == {"reencode": False if value == "false" else value}
    for cell in _cells(out).values():
        assert cell["status"] == "ok", (cell["backend"], cell["error"], cell["traceback"])
        ran = cell["runner"]["details"]["activation_reencode"]
        if value == "false":
            assert ran == {"ran": False, "reason": "reencode=false"}
        else:
            assert ran["ran"] and ran["mode"] == "exact" and ran["unsigned"] == 0
        assert cell["accuracy"]["top1"] > 0.9  # the digits-trained model, as written or not


def test_default_run_re_encodes_with_each_runners_own_mode(cli, int8_onnx, tmp_path):
    out = tmp_path / "r.json"
    result = cli(
        "bench", int8_onnx, "--backend", "onnxruntime,openvino", "--limit", "16",
        "--iters", "2", "--min-time", "0", "--warmup", "1", "--warmup-time", "0",
        "--no-isolate", "--json", out,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    modes = {
        b: c["runner"]["details"]["activation_reencode"]["mode"] for b, c in _cells(out).items()
    }
    assert modes == {"onnxruntime": "fast", "openvino": "nonnegative"}


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--runner-option", "reencode=fastest"), ("reencode: unknown value 'fastest'", "exact")),
        (("--runner-option", "reencode"), ("cannot read --option 'reencode'", "KEY=VALUE")),
        (
            ("--backend", "onnxruntime", "--runner-option", "inference_precision=f32"),
            ("inference_precision: no backend of this run (onnxruntime) reads it", "reencode"),
        ),
        (("--runner-option", "device=-1"), ("device: -1 is out of range",)),
    ],
)
def test_bad_runner_options_are_one_line(cli, user_error, int8_onnx, tmp_path, args, fragments):
    out = tmp_path / "r.json"
    user_error(cli("bench", int8_onnx, *args, "--json", out), *fragments)
    assert not out.exists()


def test_a_suite_sets_runner_options(tmp_path):
    from deploykit.bench.suite import load_suite

    suite = tmp_path / "s.yaml"
    suite.write_text("models: [demo_resnet]\nrunner_options: {reencode: exact}\n")
    assert load_suite(suite).config.runner_extra == {"reencode": "exact"}


@pytest.mark.parametrize(
    ("backend", "key"), [(b.name, o.key) for b in BACKENDS.values() for o in b.options]
)
def test_every_declared_runner_option_is_read_by_its_runner(backend, key):
    """A declaration no runner reads would be accepted and then do nothing."""

    def source(module: str) -> str:
        return Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8")

    read_by = source(BACKENDS[backend].module)
    if key == "reencode":  # the ORT and OpenVINO runners hand it to the re-encoding
        read_by += source("deploykit.runners.qdq")
    assert f'"{key}"' in read_by


def test_runner_option_values_keep_their_types(int8_onnx):
    """JSON values stay typed (false is a boolean, 0 an int) before the runner reads them."""
    from deploykit.manifest import read_manifest
    from deploykit.options import parse_pairs
    from deploykit.runners import RunnerOptions, open_runner

    extra = parse_pairs(["reencode=false", "device=0"])
    assert extra == {"reencode": False, "device": 0}
    options = RunnerOptions(threads=2, precision="int8", extra=extra)
    spec = read_manifest(int8_onnx).input
    with open_runner("onnxruntime", int8_onnx, spec, options) as runner:
        assert np.isfinite(runner.infer(np.zeros(spec.shape, np.float32))).all()
        assert runner.info.details["activation_reencode"] == {
            "ran": False,
            "reason": "reencode=false",
        }
