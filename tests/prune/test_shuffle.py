"""ShuffleNetV2: the rewritten units give identical outputs and the model prunes within groups."""

from __future__ import annotations

import torch

from deploykit.prune import PruneConfig, prune
from deploykit.prune.shuffle import ChannelShuffle, prepare_shuffle_units
from deploykit.sources import SourceOptions
from deploykit.zoo import create_model


def test_rewritten_units_compute_the_same_function():
    model = create_model("shufflenet_v2_x1_0", num_classes=10)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        coupled = prepare_shuffle_units(model)
        got = model(x)
    assert torch.equal(expected, got)
    shuffles = [m for m in model.modules() if isinstance(m, ChannelShuffle)]
    assert len(shuffles) == 16 and all(s in coupled for s in shuffles)


def test_other_models_are_untouched():
    assert prepare_shuffle_units(create_model("resnet18", num_classes=10)) == []


def test_shufflenet_prunes_branches_and_keeps_the_trunk():
    config = PruneConfig(ratio=0.5, measure_latency=False)
    options = SourceOptions(num_classes=10, input_shape=(1, 3, 32, 32))
    result = prune("shufflenet_v2_x1_0", config, options)
    model = result.model
    unit = model.stage3[1]
    assert unit.branch2[0].out_channels == 56  # 116 -> 58 rounded down to a multiple of 8
    assert unit.branch2[5].out_channels == 116  # trunk channels feed the shuffle: kept
    assert result.report.ratios()["macs"] < 0.55
    assert result.target["protected"]["shuffle_coupled"] > 0
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
