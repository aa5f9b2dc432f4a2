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


@pytest.mark.parametrize("name", ["l1", "l2"])
def test_magnitude_criteria_remove_the_weakest_channels(name):
    """Half of conv1's filters are 1000x smaller: L1/L2 pruning at 50 % removes exactly those."""
    import torch

    from deploykit.sources import LoadedModel
    from deploykit.spec import InputSpec

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 10),
    ).eval()
    weak = torch.arange(0, 16, 2)
    with torch.no_grad():
        model[0].weight[weak] *= 1e-3
    strong = model[0].weight[1::2].detach().clone()
    spec = InputSpec(shape=(1, 3, 16, 16))
    loaded = LoadedModel("torch", "toy", spec, {"ref": "toy"}, model=model, num_classes=10)
    config = PruneConfig(ratio=0.5, importance=name, round_to=1, measure_latency=False)
    pruned = prune(loaded, config).model
    kept = pruned[0].weight.detach()
    assert kept.shape[0] == 8
    assert torch.equal(kept, strong)


def test_bn_scale_needs_batchnorm():
    config = PruneConfig(ratio=0.5, importance="bn-scale", measure_latency=False)
    with pytest.raises(InputError, match="BatchNorm"):
        prune("squeezenet1_1", config, SourceOptions(num_classes=10, input_shape=(1, 3, 32, 32)))


def test_make_importance_returns_fresh_objects():
    assert make_importance("l1") is not make_importance("l1")
