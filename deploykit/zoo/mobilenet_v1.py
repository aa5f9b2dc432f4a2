"""MobileNet V1 (Howard et al., 2017): depthwise separable convolutions and a width multiplier.

Table 1 of the paper: a 3x3 stride-2 stem of 32 channels, then thirteen
depthwise-separable blocks (3x3 depthwise + BN + ReLU, 1x1 pointwise + BN + ReLU),
global average pooling and one fully connected layer. The width multiplier
alpha thins every layer; at alpha 1.0 and 224x224 the net has 4.2 M parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from deploykit.registry import register_model
from deploykit.zoo.layers import DIGITS_PREPROCESS, conv_bn, scaled

# (output channels, stride) of the thirteen depthwise-separable blocks.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)  # fmt: skip


def separable(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, each followed by BatchNorm and ReLU."""
    return nn.Sequential(conv_bn(in_ch, in_ch, 3, stride, groups=in_ch), conv_bn(in_ch, out_ch, 1))


class MobileNetV1(nn.Module):
    """MobileNet V1.

    Args:
        num_classes: classifier width.
        width: the paper's width multiplier alpha.
        small_input: 32x32 inputs: stride-1 stem and no stride in the second block.
        dropout: dropout before the classifier.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        width: float = 1.0,
        small_input: bool = False,
        dropout: float = 0.001,
    ) -> None:
        super().__init__()
        in_ch = scaled(32, width)
        layers: list[nn.Module] = [conv_bn(3, in_ch, 3, 1 if small_input else 2)]
        for i, (channels, stride) in enumerate(BLOCKS):
            out_ch = scaled(channels, width)
            layers.append(separable(in_ch, out_ch, 1 if small_input and i == 1 else stride))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_ch, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


@register_model(family="mobilenet_v1")
def mobilenet_v1(num_classes: int = 1000) -> nn.Module:
    """MobileNet V1 1.0 (4.2 M params at 1000 classes)."""
    return MobileNetV1(num_classes, width=1.0)


@register_model(family="mobilenet_v1")
def mobilenet_v1_075(num_classes: int = 1000) -> nn.Module:
    """MobileNet V1 0.75 (2.6 M params at 1000 classes)."""
    return MobileNetV1(num_classes, width=0.75)


@register_model(family="mobilenet_v1")
def mobilenet_v1_050(num_classes: int = 1000) -> nn.Module:
    """MobileNet V1 0.5 (1.3 M params at 1000 classes)."""
    return MobileNetV1(num_classes, width=0.5)


@register_model(family="mobilenet_v1")
def mobilenet_v1_025(num_classes: int = 1000) -> nn.Module:
    """MobileNet V1 0.25 (0.5 M params at 1000 classes)."""
    return MobileNetV1(num_classes, width=0.25)


@register_model(family="mobilenet_v1", input_size=32, num_classes=10, preprocess=DIGITS_PREPROCESS)
def mobilenet_v1_small(num_classes: int = 10) -> nn.Module:
    """MobileNet V1 0.25 for 32x32 inputs (digits)."""
    return MobileNetV1(num_classes, width=0.25, small_input=True)
