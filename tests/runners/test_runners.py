import numpy as np
import pytest

from deploykit.errors import InputError, ShapeError
from deploykit.export import ExportRequest, export_model
from deploykit.runners import RunnerOptions, open_runner
from deploykit.spec import InputSpec


def test_torch_and_onnxruntime_agree(tmp_path, trained_mobilenet):
    path = export_model(trained_mobilenet, ExportRequest(out_dir=tmp_path, verify=False)).artifact
    x = np.random.default_rng(0).standard_normal((5, 3, 32, 32)).astype(np.float32)
    with open_runner("torch", trained_mobilenet.model, trained_mobilenet.spec) as torch_runner:
        expected = torch_runner.infer(x)
        assert torch_runner.info.backend == "torch" and torch_runner.info.device == "cpu"
    with open_runner(
        "onnxruntime", path, trained_mobilenet.spec, RunnerOptions(threads=1)
    ) as ort_runner:
        got = ort_runner.infer(x)
        assert ort_runner.info.details["providers"] == ["CPUExecutionProvider"]
        assert ort_runner.info.threads == 1
    assert got.dtype == np.float32 and got.shape == (5, 10)
    assert np.allclose(got, expected, atol=1e-4)


def test_runner_checks_the_input_shape(trained_resnet):
    with (
        open_runner("torch", trained_resnet.model, trained_resnet.spec) as runner,
        pytest.raises(ShapeError, match="takes N x 3 x 32 x 32"),
    ):
        runner.infer(np.zeros((1, 3, 28, 28), np.float32))


def test_nhwc_specs_are_converted_at_the_boundary(trained_resnet):
    """A runner whose model wants NHWC still takes NCHW: the base class transposes once."""
    import torch

    class NhwcWrapper(torch.nn.Module):
        def forward(self, x):
            return trained_resnet.model(x.permute(0, 3, 1, 2))

    nhwc = trained_resnet.spec.with_layout("NHWC")
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with (
        open_runner("torch", NhwcWrapper(), nhwc) as runner,
        open_runner("torch", trained_resnet.model, trained_resnet.spec) as reference,
    ):
        assert np.allclose(runner.infer(x), reference.infer(x), atol=1e-5)


def test_unknown_backend_and_missing_gpu_provider(tmp_path):
    spec = InputSpec(shape=(1, 3, 8, 8))
    with pytest.raises(InputError, match="unknown backend"):
        open_runner("tvm", tmp_path / "x.onnx", spec)
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        from deploykit.errors import MissingBackendError

        with pytest.raises(MissingBackendError, match="CUDAExecutionProvider"):
            open_runner("ort-cuda", tmp_path / "x.onnx", spec)
