"""Every criterion in the table prunes a real model; Taylor uses real gradients."""

from __future__ import annotations

import pytest

from deploykit.errors import InputError
from deploykit.prune import PruneConfig, prune
from deploykit.prune.importance import IMPORTANCES, make_importance
from deploykit.sources import SourceOptions


@pytest.mark.parametrize("name", sorted(IMPORTANCES))
def test_each_criterion_halves_demo_resnet(trained_resnet, tiny_digits, name):
    config = PruneConfig(
        ratio=0.5,
        importance=name,
        finetune=tiny_digits,
        epochs=0,
        measure_latency=False,
        taylor_batches=2,
    )
    result = prune(trained_resnet, config)
    assert 0.15 < result.report.ratios()["macs"] < 0.4
    assert result.report.after.top1 is not None


def test_l1_keeps_more_accuracy_than_random_before_finetuning(trained_resnet, tiny_digits):
    def top1(name: str) -> float:  # after BatchNorm re-estimation only (epochs=0)
        config = PruneConfig(
            ratio=0.3, importance=name, finetune=tiny_digits, epochs=0, measure_latency=False
        )
        return prune(trained_resnet, config).report.after.top1

    assert top1("l1") >= top1("random")


def test_bn_scale_needs_batchnorm():
    config = PruneConfig(ratio=0.5, importance="bn-scale", measure_latency=False)
    with pytest.raises(InputError, match="BatchNorm"):
        prune("squeezenet1_1", config, SourceOptions(num_classes=10, input_shape=(1, 3, 32, 32)))


def test_make_importance_returns_fresh_objects():
    assert make_importance("l1") is not make_importance("l1")
