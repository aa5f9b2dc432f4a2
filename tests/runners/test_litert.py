"""LiteRT runner: XNNPACK, batches, fixed batch sizes, and the GPU delegate's absence."""

import numpy as np
import pytest

from deploykit.data import load_dataset, prepare
from deploykit.errors import InputError, MissingBackendError
from deploykit.export import ExportRequest, export_model
from deploykit.optional import available
from deploykit.runners import RunnerOptions, open_runner
from deploykit.sources import load_model

# Not importorskip: importing TensorFlow directly, before triton, is the crash this package avoids.
pytestmark = pytest.mark.skipif(
    not available("tensorflow"), reason="needs the tflite extra (TensorFlow)"
)


@pytest.fixture(scope="module")
def keras_loaded(keras_digits):
    return load_model(str(keras_digits))


@pytest.fixture(scope="module")
def tflite(keras_loaded, tmp_path_factory):
    out = tmp_path_factory.mktemp("tflite")
    return export_model(keras_loaded, ExportRequest(target="tflite", out_dir=out))


def test_runs_any_batch_size_on_xnnpack_and_matches_keras(tflite, keras_loaded):
    x = prepare(load_dataset("digits", limit=70).images, keras_loaded.spec)
    with open_runner("keras", keras_loaded.model, keras_loaded.spec) as ref:
        expected = ref.infer(x)
    options = RunnerOptions(threads=2)
    with open_runner("litert", tflite.artifact, tflite.manifest.input, options) as runner:
        for n in (1, 7, 70):
            assert np.abs(runner.infer(x[:n]) - expected[:n]).max() < 1e-3
        info = runner.info
    assert info.backend == "litert" and info.device == "cpu" and info.threads == 2
    assert info.details["delegate"] == "xnnpack" and info.details["input_dtype"] == "float32"


def test_fixed_batch_model_is_fed_in_chunks(tmp_path, keras_loaded):
    request = ExportRequest(target="tflite", out_dir=tmp_path, dynamic_batch=False)
    result = export_model(keras_loaded, request)
    assert result.manifest.input.dynamic_batch is False
    x = prepare(load_dataset("digits", limit=5).images, keras_loaded.spec)
    with open_runner("litert", result.artifact, result.manifest.input) as runner:
        assert runner.max_batch == 1
        assert runner.infer(x).shape == (5, 10)


def test_missing_gpu_delegate_is_an_error_not_a_cpu_fallback(tflite):
    options = RunnerOptions(extra={"delegate": "gpu"})
    with pytest.raises(MissingBackendError, match="no TFLite GPU delegate library"):
        open_runner("litert", tflite.artifact, tflite.manifest.input, options)


def test_delegate_path_that_does_not_exist(tflite, tmp_path):
    options = RunnerOptions(extra={"delegate": "gpu", "delegate_path": str(tmp_path / "no.so")})
    with pytest.raises(InputError, match="does not exist"):
        open_runner("litert", tflite.artifact, tflite.manifest.input, options)


def test_unknown_delegate(tflite):
    with pytest.raises(InputError, match="unknown LiteRT delegate"):
        open_runner(
            "litert",
            tflite.artifact,
            tflite.manifest.input,
            RunnerOptions(extra={"delegate": "npu"}),
        )


def test_bench_with_gpu_delegate_says_why_and_exits_non_zero(tflite, cli_process, user_error):
    # A fresh process, so that anything the runtime prints to stderr counts.
    result = cli_process("bench", tflite.artifact, "--data", "digits", "--delegate", "gpu")
    user_error(result, "no TFLite GPU delegate library", "--delegate-path")
    # The same through the generic runner option, checked up front as well.
    result = cli_process("bench", tflite.artifact, "--runner-option", "delegate=gpu")
    user_error(result, "no TFLite GPU delegate library", "--delegate-path")


def test_delegate_path_that_is_not_a_library(tflite, tmp_path):
    fake = tmp_path / "libfake_delegate.so"
    fake.write_text("not a shared library")
    options = RunnerOptions(extra={"delegate": "gpu", "delegate_path": str(fake)})
    with pytest.raises(InputError, match="cannot load GPU delegate"):
        open_runner("litert", tflite.artifact, tflite.manifest.input, options)
