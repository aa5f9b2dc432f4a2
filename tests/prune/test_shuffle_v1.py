"""ShuffleNet V1 bottlenecks pruned through the channel shuffle, every group alike, exactly."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from deploykit.prune import PruneConfig, prune
from deploykit.prune.shuffle_v1 import BottleneckPruner
from deploykit.zoo.shufflenet_v1 import ShuffleNetV1


def _model(groups: int) -> nn.Module:
    torch.manual_seed(groups)
    model = ShuffleNetV1(num_classes=10, groups=groups, width=0.5, small_input=True)
    for m in model.modules():  # BatchNorm statistics that are not the identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    return model.eval()


def test_the_gather_rewrite_keeps_the_outputs():
    model = _model(3)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        BottleneckPruner(model)
        assert torch.equal(model(x), before)


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 8])
def test_pruning_equals_cutting_the_removed_channels_out(groups):
    """The pruned net computes what the original does with the removed channels' expand inputs zeroed."""
    model = _model(groups)
    reference = copy.deepcopy(model)
    pruner = BottleneckPruner(model, "l1")
    widths = list(pruner.widths)
    assert pruner.prune_to(0.5) == len(pruner.units)
    for unit, original, width in zip(pruner.units, _units(reference), widths, strict=True):
        reduce, expand = unit.reduce[0], unit.expand[0]
        assert reduce.out_channels <= width * 0.6
        assert reduce.out_channels % reduce.groups == 0 and expand.in_channels % expand.groups == 0
        assert unit.depthwise[0].groups == unit.depthwise[0].in_channels == reduce.out_channels
        kept = [_row(original.reduce[0].weight, w) for w in reduce.weight]
        assert kept == sorted(kept) and len(set(kept)) == len(kept)
        # Zero, in the original, the expand input of every removed channel (after the shuffle).
        shuffle = _shuffle_order(original, width)
        per_b = width // expand.groups
        out_per_b = expand.out_channels // expand.groups
        with torch.no_grad():
            for post, pre in enumerate(shuffle):
                if pre not in kept:
                    b = post // per_b
                    original.expand[0].weight[b * out_per_b : (b + 1) * out_per_b, post % per_b] = 0
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-5)


def _units(model: nn.Module) -> list[nn.Module]:
    from deploykit.zoo.shufflenet_v1 import ShuffleUnit

    return [m for m in model.modules() if isinstance(m, ShuffleUnit)]


def _row(weight: torch.Tensor, row: torch.Tensor) -> int:
    matches = [i for i, w in enumerate(weight) if torch.equal(w, row)]
    assert len(matches) == 1
    return matches[0]


def _shuffle_order(unit: nn.Module, width: int) -> list[int]:
    """Pre-shuffle channel at each post-shuffle position (the identity without a shuffle)."""
    if unit.groups == 1:
        return list(range(width))
    return torch.arange(width).view(unit.groups, -1).t().reshape(-1).tolist()


def test_criteria_pick_different_channels_and_random_is_seeded():
    def kept(importance: str, seed: int = 0) -> list[int]:
        model = _model(3)
        original = _units(copy.deepcopy(model))[3].reduce[0].weight
        pruner = BottleneckPruner(model, importance, seed)
        pruner.prune_to(0.5)
        return [_row(original, w) for w in pruner.units[3].reduce[0].weight]

    assert kept("random", 1) == kept("random", 1)
    assert kept("random", 1) != kept("random", 2)
    assert kept("l1") != kept("bn-scale")


def test_min_channels_stops_the_bottleneck():
    model = _model(2)
    pruner = BottleneckPruner(model)
    pruner.prune_to(0.9, min_channels=12)
    assert min(unit.reduce[0].out_channels for unit in pruner.units) >= 12


def test_a_pruned_shufflenet_v1_exports_and_verifies(tmp_path):
    from deploykit.export import ExportRequest, export_model
    from deploykit.sources import LoadedModel, SourceOptions

    options = SourceOptions(num_classes=10, input_shape=(1, 3, 32, 32))
    result = prune("shufflenet_v1_small", PruneConfig(ratio=0.5, measure_latency=False), options)
    assert result.target["protected"]["shufflenet_v1_units"] == 16
    assert 0.3 < result.report.ratios()["macs"] < 0.65
    loaded = LoadedModel("torch", "v1", result.spec, {}, model=result.model, num_classes=10)
    exported = export_model(loaded, ExportRequest(out_dir=tmp_path, verify_samples=8))
    assert exported.manifest.verification["passed"]
    assert exported.manifest.verification["cosine"] > 0.9999
