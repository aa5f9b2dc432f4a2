"""Fine-tuning recovers accuracy after pruning, reproducibly; BN momentum survives re-estimation."""

from __future__ import annotations

import copy

import torch

from deploykit.prune import PruneConfig, prune
from deploykit.prune.finetune import finetune, recalibrate
from deploykit.train import TrainConfig


def test_finetuning_recovers_accuracy(trained_resnet, tiny_digits):
    config = PruneConfig(ratio=0.5, finetune=tiny_digits, epochs=4, measure_latency=False)
    report = prune(trained_resnet, config).report
    assert report.before.top1 > 0.9
    assert report.after.top1 > report.top1_pruned + 0.3


def test_finetuning_is_reproducible_with_a_fixed_seed(trained_resnet, tiny_digits):
    spec = trained_resnet.spec
    first, second = (copy.deepcopy(trained_resnet.model) for _ in range(2))
    for model in (first, second):
        finetune(model, spec, tiny_digits, TrainConfig(epochs=1, seed=3))
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(first(x), second(x))


def test_recalibration_restores_batchnorm_momentum(trained_resnet, tiny_digits):
    model = copy.deepcopy(trained_resnet.model)
    recalibrate(model, trained_resnet.spec, tiny_digits)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(bn.momentum == 0.1 for bn in bns)
