"""Xception (Chollet, 2017): depthwise separable convolutions in entry, middle and exit flows.

Figure 5 of the paper: the entry flow (two 3x3 convolutions, then three
residual blocks of two separable convolutions and a strided max pool, with a
strided 1x1 convolution on the shortcut), the middle flow (eight residual
blocks of three ReLU + separable convolutions at 728 channels) and the exit
flow (one more down-sampling block, two separable convolutions to 2048
channels, global pooling and a classifier). Every convolution is followed by
BatchNorm; separable convolutions have no bias and no ReLU between their
depthwise and pointwise parts. 22.9 M parameters at 299x299 and 1000 classes.
"""

from __future__ import annotations

import torch
from torch import nn

from deploykit.registry import register_model
from deploykit.zoo.layers import DIGITS_PREPROCESS, INCEPTION_PREPROCESS, conv_bn, scaled


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 then pointwise 1x1 (no bias), then BatchNorm."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(
            nn.Conv2d(in_ch, in_ch, 3, padding=1, groups=in_ch, bias=False),
            nn.Conv2d(in_ch, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch, eps=1e-3),
        )


class XceptionBlock(nn.Module):
    """Residual block of ReLU + separable convolutions, optionally down-sampling.

    Args:
        in_ch: input channels.
        widths: output channels of each separable convolution.
        downsample: end with a 3x3 stride-2 max pool and project the shortcut.
        relu_first: start with a ReLU (every block but the first one of the entry flow).
    """

    def __init__(
        self, in_ch: int, widths: tuple[int, ...], downsample: bool, relu_first: bool = True
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_ch
        for i, width in enumerate(widths):
            if i > 0 or relu_first:
                layers.append(nn.ReLU(inplace=i > 0))
            layers.append(SeparableConv(ch, width))
            ch = width
        if downsample:
            layers.append(nn.MaxPool2d(3, 2, 1))
            self.shortcut: nn.Module = conv_bn(in_ch, ch, 1, 2, relu=False, eps=1e-3)
        else:
            self.shortcut = nn.Identity()
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class Xception(nn.Module):
    """Xception.

    Args:
        num_classes: classifier width.
        width: multiplies every channel count (1.0 is the paper's net).
        middle_blocks: residual blocks in the middle flow (8 in the paper).
        small_input: 32x32 inputs: stride-1, padded stem.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        width: float = 1.0,
        middle_blocks: int = 8,
        small_input: bool = False,
    ) -> None:
        super().__init__()

        def c(channels: int) -> int:
            return scaled(channels, width)

        pad = 1 if small_input else 0
        self.stem = nn.Sequential(
            conv_bn(3, c(32), 3, 1 if small_input else 2, pad, eps=1e-3),
            conv_bn(c(32), c(64), 3, 1, pad, eps=1e-3),
        )
        entry = [
            XceptionBlock(c(64), (c(128), c(128)), True, relu_first=False),
            XceptionBlock(c(128), (c(256), c(256)), True),
            XceptionBlock(c(256), (c(728), c(728)), True),
        ]
        self.entry_flow = nn.Sequential(*entry)
        self.middle_flow = nn.Sequential(
            *(XceptionBlock(c(728), (c(728),) * 3, False) for _ in range(middle_blocks))
        )
        self.exit_flow = nn.Sequential(
            XceptionBlock(c(728), (c(728), c(1024)), True),
            SeparableConv(c(1024), c(1536)),
            nn.ReLU(inplace=True),
            SeparableConv(c(1536), c(2048)),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c(2048), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.exit_flow(self.middle_flow(self.entry_flow(self.stem(x))))
        return self.fc(self.pool(x).flatten(1))


@register_model(family="xception", input_size=299, preprocess=INCEPTION_PREPROCESS)
def xception(num_classes: int = 1000) -> nn.Module:
    """Xception (22.9 M params at 1000 classes, 299x299)."""
    return Xception(num_classes)


@register_model(family="xception", input_size=32, num_classes=10, preprocess=DIGITS_PREPROCESS)
def xception_small(num_classes: int = 10) -> nn.Module:
    """Xception at width 1/8 with two middle blocks, for 32x32 inputs (digits)."""
    return Xception(num_classes, width=0.125, middle_blocks=2, small_input=True)
