"""Labels the model cannot output are refused wherever a labelled set meets a model.

Bench (tests/data/test_bad_data.py, tests/bench/test_terminal_report.py) and here:
training and evaluation with a fixed head (prune's fine-tuning, finetune's scoring),
Taylor scoring, and the INT8 accuracy budget.
"""

from __future__ import annotations

import numpy as np
import pytest

from deploykit.data import load_dataset
from deploykit.errors import DataMismatchError
from deploykit.export.accuracy_budget import EvalSet, fit_budget
from deploykit.metrics import check_labels_fit
from deploykit.sources import SourceOptions, load_model
from tests.security.test_signals import tiny_onnx

MESSAGE = "labels go up to 9 but the model has 3 outputs"


@pytest.fixture(scope="module")
def three_class():
    """demo_resnet with a 3-output head, at 16x16 (digits has 10 classes)."""
    return load_model("demo_resnet", SourceOptions(num_classes=3, input_shape=(1, 3, 16, 16)))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train").take(32)


def test_the_check_refuses_only_labels_beyond_the_outputs():
    check_labels_fit(10, 10, "m")
    check_labels_fit(1000, 10, "m")  # more outputs than classes: a warning elsewhere
    check_labels_fit(3, 0, "m")  # unlabelled
    with pytest.raises(DataMismatchError, match="m: the data's labels go up to 10 but"):
        check_labels_fit(10, 11, "m")


def test_training_a_fixed_head_refuses_before_a_step(three_class, digits):
    from deploykit.train import TrainConfig, fit

    before = {k: v.detach().clone() for k, v in three_class.model.named_parameters()}
    with pytest.raises(DataMismatchError, match=MESSAGE):
        fit(three_class.model, digits, three_class.spec, TrainConfig(epochs=1, batch_size=16))
    after = dict(three_class.model.named_parameters())
    assert all(bool((before[k] == after[k]).all()) for k in before)  # not one step taken


def test_scoring_refuses(three_class, digits):
    from deploykit.train import evaluate

    with pytest.raises(DataMismatchError, match=MESSAGE):
        evaluate(three_class.model, digits, three_class.spec)


def test_taylor_scoring_refuses(three_class, digits):
    import torch

    from deploykit.data import prepare
    from deploykit.prune.importance import accumulate_gradients

    images = torch.from_numpy(prepare(digits.images, three_class.spec))
    with pytest.raises(DataMismatchError, match=MESSAGE):
        accumulate_gradients(three_class.model, images, torch.from_numpy(digits.labels))


def test_accuracy_budget_refuses_before_quantizing(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx")  # ten outputs
    labels = np.array([0, 3, 9, 12])
    data = EvalSet(np.zeros((4, 3, 8, 8), np.float32), labels, "d.npz")

    def quantize(kept):
        raise AssertionError("quantized data that does not fit the model")

    with pytest.raises(DataMismatchError, match=r"--eval d\.npz: the data's labels go up to 12"):
        fit_budget(model, quantize, [], data, max_drop=1.0, kept=[])
