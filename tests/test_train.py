"""The shared training loop: distillation makes the student follow the teacher, not the labels."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from deploykit.data import load_dataset
from deploykit.train import TrainConfig, fit, predict


@pytest.fixture(scope="module")
def shifted_labels():
    """The digits train split with every label moved to the next class: wrong on purpose."""
    data = load_dataset("digits", split="train")
    return dataclasses.replace(data, labels=(data.labels + 1) % 10)


@pytest.mark.parametrize(("distill", "follows_teacher"), [(1.0, True), (0.0, False)])
def test_distillation_follows_the_teacher_over_the_labels(
    trained_resnet, shifted_labels, distill, follows_teacher
):
    import torch

    teacher = trained_resnet.model
    student = copy.deepcopy(teacher)
    torch.manual_seed(0)
    for module in student.modules():  # forget what it knew: a fresh start in the same shape
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    config = TrainConfig(epochs=3, distill=distill, threads=2)
    fit(student, shifted_labels, trained_resnet.spec, config, teacher=teacher)
    test = load_dataset("digits", split="test")
    agree = np.mean(
        predict(student, test, trained_resnet.spec).argmax(1)
        == predict(teacher, test, trained_resnet.spec).argmax(1)
    )
    if follows_teacher:
        assert agree > 0.6, agree  # 0.87 measured; labels-only gives 0.02
    else:  # it learned the shifted labels instead
        assert agree < 0.2, agree
