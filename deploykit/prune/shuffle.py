"""Channel shuffle (ShuffleNetV2): make the units traceable and keep shuffle-coupled channels whole.

Torch-Pruning maps channel indices through ``view`` by inferring a flatten stride;
the ``view -> transpose -> view`` of a channel shuffle defeats that inference
(``ZeroDivisionError`` while building the graph). Each torchvision unit is
therefore rewritten, with identical outputs, to shuffle through an explicit
permutation (``index_select``, a Gather in ONNX).

Which channels may go: a unit's output is ``shuffle(cat(x1, branch(x2)))`` and the
next unit splits it in halves again, so every trunk channel of a stage is
interleaved with every other within a few units; keeping ``chunk(2)`` and
``shuffle(2)`` valid at a smaller width would force all trunk channels of a
stage to go together. The trunk is therefore kept, and pruning happens within
each shuffle group: the branch-internal channels (1x1 -> depthwise 3x3 -> 1x1,
most of the MACs), the stem and the final 1x1 convolution.
"""

from __future__ import annotations

from typing import Any

import torch
import torch_pruning as tp
from torch import nn


class ChannelShuffle(nn.Module):
    """``channel_shuffle(x, groups)`` as one gather over a fixed permutation.

    Args:
        channels: channels shuffled.
        groups: shuffle groups.
    """

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        order = torch.arange(channels).view(groups, channels // groups).t().reshape(-1)
        self.register_buffer("index", order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.index)


class ShufflePruner(tp.pruner.function.BasePruningFunc):
    """Torch-Pruning handler for :class:`ChannelShuffle`.

    Distinct in/out handlers stop the dependency graph at the shuffle, so no group
    crosses it; the producers feeding it are ignored, so neither handler ever runs.
    """

    def prune_out_channels(self, layer: nn.Module, idxs: Any) -> nn.Module:
        raise RuntimeError("shuffle-coupled channels are not prunable")

    def prune_in_channels(self, layer: nn.Module, idxs: Any) -> nn.Module:
        raise RuntimeError("shuffle-coupled channels are not prunable")

    def get_out_channels(self, layer: nn.Module) -> int:
        return len(layer.index)

    def get_in_channels(self, layer: nn.Module) -> int:
        return len(layer.index)


CUSTOMIZED_PRUNERS = {ChannelShuffle: ShufflePruner()}


def _unit_class() -> type:
    from torchvision.models.shufflenetv2 import InvertedResidual

    class ShuffleUnit(InvertedResidual):
        """torchvision's unit with the shuffle as a submodule (same weights, same outputs)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return self.shuffle(out)

    return ShuffleUnit


def _last_conv(module: nn.Module) -> nn.Module | None:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def prepare_shuffle_units(model: nn.Module) -> list[nn.Module]:
    """Rewrite torchvision ShuffleNetV2 units in place; return the convolutions to keep whole.

    Args:
        model: any torch module; models without ShuffleNetV2 units are left untouched.

    Returns:
        The layers to keep whole (empty when there are none): the shuffles, whose output
        channels also feed depthwise convolutions, and the convolutions feeding them.
    """
    from torchvision.models.shufflenetv2 import InvertedResidual

    unit_class = None
    coupled = []
    for module in model.modules():
        if not isinstance(module, InvertedResidual):
            continue
        unit_class = unit_class or _unit_class()
        producers = [_last_conv(module.branch2), _last_conv(module.branch1)]
        producers = [conv for conv in producers if conv is not None]
        module.__class__ = unit_class
        module.shuffle = ChannelShuffle(producers[0].out_channels * 2, 2)
        coupled.extend([*producers, module.shuffle])
    return coupled
