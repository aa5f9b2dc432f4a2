"""Every row of the capability table, tested because it is in the table.

A new target, precision or backend is exercised here without anyone listing it: each
(target, precision) exports the digits-trained demo_resnet, verifies it against the source
and runs it in its default backend; each backend runs an artifact of every format it claims
and agrees with that format's reference. Rows whose hardware or extra is missing skip with
the reason the library gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deploykit.data import load_dataset, prepare
from deploykit.errors import MissingBackendError
from deploykit.export import ExportRequest, export_model
from deploykit.runners import RunnerOptions, open_runner
from deploykit.targets import BACKENDS, TARGETS, default_backend, format_of
from deploykit.tensorrt_compat import gpu_ready

CALIB = Path(__file__).resolve().parents[1] / "calibration" / "digits-256.npz"
ROWS = [(t.name, p) for t in TARGETS.values() for p in t.precisions]


def _skip_without_hardware(needs_gpu: bool) -> None:
    if needs_gpu and not gpu_ready():
        pytest.skip("needs an NVIDIA GPU with TensorRT (run with -m gpu on one)")


def _samples(spec, n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    test = load_dataset("digits", split="test", limit=n)
    return prepare(test.images, spec), test.labels


@pytest.fixture(scope="module")
def exported(trained_resnet, tmp_path_factory):
    """(target, precision) -> exported artifact, built once per module."""
    cache: dict[tuple[str, str], object] = {}
    out = tmp_path_factory.mktemp("table")

    def get(target: str, precision: str):
        if (target, precision) not in cache:
            request = ExportRequest(
                target=target,
                precision=precision,
                out_dir=out / f"{target}-{precision}",
                calib=CALIB if precision == "int8" else None,
            )
            try:
                cache[target, precision] = export_model(trained_resnet, request)
            except MissingBackendError as exc:
                pytest.skip(str(exc))
        return cache[target, precision]

    return get


@pytest.mark.parametrize(("target", "precision"), ROWS, ids=[f"{t}-{p}" for t, p in ROWS])
def test_every_target_and_precision_exports_verifies_and_runs(
    target, precision, exported, trained_resnet
):
    _skip_without_hardware(TARGETS[target].gpu)
    result = exported(target, precision)
    artifact, manifest = result.artifact, result.manifest
    assert artifact.suffix in TARGETS[target].suffixes
    assert (manifest.target, manifest.precision) == (target, precision)
    assert manifest.verification["top1_agreement"] >= 0.9  # export refuses worse; recorded
    for companion in TARGETS[target].companions:
        assert artifact.with_suffix(companion).is_file()
    x, labels = _samples(manifest.input)
    fmt = format_of(artifact)
    with open_runner(
        default_backend(fmt), artifact, manifest.input, RunnerOptions(precision=precision)
    ) as runner:
        logits = runner.infer(x)
    assert logits.shape == (len(x), trained_resnet.num_classes)
    assert (logits.argmax(1) == labels).mean() >= 0.85  # a digits-trained model stays accurate


def _reference_artifact(fmt: str, exported, trained_resnet, keras_path):
    """An artifact of format ``fmt`` and the logits its own reference gives on digits."""
    if fmt == "torch":
        return trained_resnet.model, trained_resnet.spec
    if fmt == "keras":
        from deploykit.sources import load_model

        return keras_path(), load_model(str(keras_path())).spec
    target = next(t for t in TARGETS.values() if t.fmt == fmt)
    _skip_without_hardware(target.gpu)
    result = exported(target.name, "fp32")
    return result.artifact, result.manifest.input


@pytest.fixture
def keras_path(request):
    return lambda: request.getfixturevalue("keras_digits")


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_backend_runs_each_format_it_claims_like_the_formats_own_runtime(
    backend, exported, trained_resnet, keras_path
):
    entry = BACKENDS[backend]
    _skip_without_hardware(entry.device == "cuda")
    for fmt in entry.formats:
        model, spec = _reference_artifact(fmt, exported, trained_resnet, keras_path)
        x, _ = _samples(spec)
        try:
            with open_runner(backend, model, spec) as runner:
                got = runner.infer(x)
                assert runner.info.backend == backend and runner.info.device == entry.device
        except MissingBackendError as exc:
            pytest.skip(str(exc))
        reference_backend = "torch" if fmt == "torch" else default_backend(fmt)
        with open_runner(reference_backend, model, spec) as reference:
            expected = reference.infer(x)
        assert got.shape == expected.shape
        assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.95, (backend, fmt)
        assert np.allclose(got, expected, rtol=1e-2, atol=1e-2 * np.abs(expected).max())
