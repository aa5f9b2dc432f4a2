"""Shared fixtures: digits-trained demo models, and ways to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Trained weights are cached between runs of the suite (fresh in CI, reused locally).
os.environ.setdefault("DEPLOYKIT_CACHE", str(ROOT / ".pytest_cache" / "deploykit-cache"))


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys):
    """Run ``deploykit ARGS`` in this process; returns exit code and captured output."""
    from deploykit.cli import main

    def run(*args: str) -> CliResult:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli_process():
    """Run ``deploykit ARGS`` in a fresh interpreter, as a user would."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 300) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "deploykit", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def _assert_user_error(result: CliResult, *fragments: str) -> None:
    assert result.code != 0, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    # A one-line "note: ..." (e.g. an assumed preprocessing recipe) may precede the error.
    lines = [line for line in lines if not line.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def user_error():
    """Check a user error: non-zero exit, one stderr line 'error: ...', no traceback.

    Usage: ``user_error(result, "fragment expected in the message", ...)``.
    """
    return _assert_user_error


@pytest.fixture(scope="session")
def trained_resnet():
    """demo_resnet trained on digits (cached), as a LoadedModel."""
    from deploykit.zoo.trained import load_trained

    return load_trained("demo_resnet")


@pytest.fixture(scope="session")
def trained_mobilenet():
    """demo_mobilenet_v2 trained on digits (cached), as a LoadedModel."""
    from deploykit.zoo.trained import load_trained

    return load_trained("demo_mobilenet_v2")


@pytest.fixture(scope="session")
def keras_digits() -> Path:
    """A small Keras CNN (NHWC 32x32x3) trained on digits for a few seconds, saved as .keras (cached)."""
    from deploykit.optional import available
    from deploykit.zoo.trained import cache_dir

    if not available("tensorflow"):
        pytest.skip("needs the tflite extra (TensorFlow)")

    path = cache_dir() / "keras" / "digits_cnn-e5-s0.keras"
    if path.is_file():
        return path
    from deploykit.data import load_dataset, prepare
    from deploykit.fileio import atomic_path
    from deploykit.spec import InputSpec
    from deploykit.tensorflow_compat import import_keras

    keras = import_keras()
    layers = keras.layers
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="input")
    h = layers.MaxPooling2D()(layers.Conv2D(16, 3, padding="same", activation="relu")(inputs))
    h = layers.Conv2D(32, 3, padding="same")(h)
    h = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(h))
    h = layers.Flatten()(layers.MaxPooling2D()(layers.MaxPooling2D()(h)))
    model = keras.Model(inputs, layers.Dense(10)(h), name="digits_cnn")
    model.compile(
        keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    train = load_dataset("digits", "train")
    x = prepare(train.images, InputSpec((1, 32, 32, 3), layout="NHWC")).transpose(0, 2, 3, 1)
    model.fit(x, train.labels, epochs=5, batch_size=32, verbose=0)
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path
