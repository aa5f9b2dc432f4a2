"""What the pruner protects and how it rounds: classifier, named layers, min channels, round_to."""

from __future__ import annotations

import pytest
import torch

from deploykit.errors import InputError
from deploykit.prune import PruneConfig
from deploykit.prune.pruner import ChannelPruner, classifier_layers, named_layers
from deploykit.zoo import create_model


def _prune(model, steps: int = 1, **settings):
    config = PruneConfig(ratio=settings.pop("ratio", 0.5), **settings)
    pruner = ChannelPruner(model, torch.zeros(1, 3, 32, 32), config, config.ratio, steps, 10)
    while not pruner.exhausted:
        pruner.step()
    return model


def test_the_classifier_output_is_found_and_never_pruned():
    model = create_model("resnet18", num_classes=10)
    assert classifier_layers(model, 10) == [model.fc]
    squeeze = create_model("squeezenet1_1", num_classes=10)
    assert classifier_layers(squeeze, 10) == [squeeze.classifier[1]]  # a 1x1 conv classifier
    _prune(model)
    assert model.fc.out_features == 10 and model.fc.in_features == 256


def test_named_layers_keep_their_width_and_unknown_names_fail():
    model = create_model("resnet18", num_classes=10)
    _prune(model, ignore=("layer1.0.conv1",))
    assert model.layer1[0].conv1.out_channels == 64
    assert model.layer1[1].conv1.out_channels == 32
    with pytest.raises(InputError, match="did you mean"):
        named_layers(model, ("layer1.0.conv",))


def test_channels_are_rounded_and_never_below_min_channels():
    model = _prune(
        create_model("mobilenet_v2", num_classes=10), ratio=0.8, round_to=8, min_channels=16
    )
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.out_channels >= 16 for c in convs)
    assert all(c.out_channels % 8 == 0 for c in convs)
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 10)


def test_global_ranking_prunes_layers_unevenly():
    def widths(global_pruning: bool) -> list[int]:
        model = _prune(create_model("resnet18", num_classes=10), global_pruning=global_pruning)
        return [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]

    uniform, ranked = widths(False), widths(True)
    assert uniform != ranked
    assert sum(ranked) == pytest.approx(sum(uniform), rel=0.25)


def test_iterative_steps_reach_the_same_ratio():
    model = create_model("resnet18", num_classes=10)
    _prune(model, steps=3)
    assert model.layer4[0].conv1.out_channels == 256
