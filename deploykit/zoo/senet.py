"""SE-ResNet and SE-ResNeXt (Hu et al., 2018): squeeze-and-excitation on ResNet blocks.

Each residual block rescales its channels before the addition: global average
pooling ("squeeze"), a bottleneck of two fully connected layers with reduction
ratio 16, ReLU then sigmoid ("excitation"), and a channel-wise multiply. The
backbone is torchvision's ResNet / ResNeXt with the SE block inserted (Table 1
of the paper); SE-ResNet-50 has 28.1 M parameters at 1000 classes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from deploykit.registry import register_model
from deploykit.zoo.layers import DIGITS_PREPROCESS

REDUCTION = 16


class SqueezeExcite(nn.Module):
    """Channel attention: pool, 1x1 reduce + ReLU, 1x1 expand + sigmoid, rescale."""

    def __init__(self, channels: int, reduction: int = REDUCTION) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.relu = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))


class SEBasicBlock(BasicBlock):
    """torchvision's basic block with squeeze-and-excitation before the addition."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.se = SqueezeExcite(self.conv2.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(out + identity)


class SEBottleneck(Bottleneck):
    """torchvision's bottleneck block with squeeze-and-excitation before the addition."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.se = SqueezeExcite(self.conv3.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


def se_resnet(
    block: type[nn.Module],
    layers: list[int],
    num_classes: int = 1000,
    small_input: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """An SE network on torchvision's ResNet skeleton.

    Args:
        block: :class:`SEBasicBlock` or :class:`SEBottleneck`.
        layers: blocks per stage.
        num_classes: classifier width.
        small_input: 32x32 inputs: a 3x3 stride-1 stem without the max pool (CIFAR style).
        **kwargs: ResNet options (``groups``, ``width_per_group`` for ResNeXt).
    """
    model = ResNet(block, layers, num_classes=num_classes, **kwargs)
    if small_input:
        model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    return model


@register_model(family="senet")
def se_resnet18(num_classes: int = 1000) -> nn.Module:
    """SE-ResNet-18 (11.8 M params at 1000 classes)."""
    return se_resnet(SEBasicBlock, [2, 2, 2, 2], num_classes)


@register_model(family="senet")
def se_resnet34(num_classes: int = 1000) -> nn.Module:
    """SE-ResNet-34 (22.0 M params at 1000 classes)."""
    return se_resnet(SEBasicBlock, [3, 4, 6, 3], num_classes)


@register_model(family="senet")
def se_resnet50(num_classes: int = 1000) -> nn.Module:
    """SE-ResNet-50 (28.1 M params at 1000 classes)."""
    return se_resnet(SEBottleneck, [3, 4, 6, 3], num_classes)


@register_model(family="senet")
def se_resnet101(num_classes: int = 1000) -> nn.Module:
    """SE-ResNet-101 (49.3 M params at 1000 classes)."""
    return se_resnet(SEBottleneck, [3, 4, 23, 3], num_classes)


@register_model(family="senet")
def se_resnext50_32x4d(num_classes: int = 1000) -> nn.Module:
    """SE-ResNeXt-50 32x4d (27.6 M params at 1000 classes)."""
    return se_resnet(SEBottleneck, [3, 4, 6, 3], num_classes, groups=32, width_per_group=4)


@register_model(family="senet", input_size=32, num_classes=10, preprocess=DIGITS_PREPROCESS)
def se_resnet_small(num_classes: int = 10) -> nn.Module:
    """SE-ResNet-10 (one basic block per stage) with a CIFAR stem, for 32x32 inputs (digits)."""
    return se_resnet(SEBasicBlock, [1, 1, 1, 1], num_classes, small_input=True)
