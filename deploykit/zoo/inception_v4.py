"""Inception-v4 and Inception-ResNet-v2 (Szegedy et al., 2016).

Both nets share the paper's stem idea (strided and "valid" 3x3 convolutions
from 299x299 down to 35x35) and its grid reductions (35 -> 17 -> 8). Inception-v4
(Figures 3-9) stacks 4 Inception-A, 7 Inception-B and 3 Inception-C blocks of
parallel branches that are concatenated; Inception-ResNet-v2 (Figures 16-19, the
released network's widths) stacks 10, 20 and 10 residual Inception blocks whose
branches are projected back to the block's width by a linear 1x1 convolution,
scaled (0.17, 0.1, 0.2) and added. 42.7 M and 55.8 M parameters at 1000 classes.

Every convolution is followed by BatchNorm (eps 1e-3) and ReLU. ``width``
scales all channel counts and ``repeats`` the block counts, which is how the
small digits variants are made; ``small_input`` pads the "valid" convolutions
and drops the first stride so a 32x32 input survives the stem.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from deploykit.registry import register_model
from deploykit.zoo.layers import DIGITS_PREPROCESS, INCEPTION_PREPROCESS, conv_bn, scaled

Conv = Callable[..., nn.Module]


class Branches(nn.Module):
    """Parallel branches whose outputs are concatenated along channels."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], 1)


class Split(nn.Module):
    """A 1x3 and a 3x1 convolution on the same input, concatenated (Inception-C)."""

    def __init__(self, conv: Conv, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.a = conv(in_ch, out_ch, (1, 3))
        self.b = conv(in_ch, out_ch, (3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], 1)


class Residual(nn.Module):
    """Inception-ResNet block: branches, linear 1x1 projection, scaled addition, ReLU."""

    def __init__(self, branches: Branches, mixed: int, out_ch: int, scale: float, relu: bool):
        super().__init__()
        self.branches = branches
        self.project = nn.Conv2d(mixed, out_ch, 1)
        self.scale = scale
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.scale * self.project(self.branches(x)))


class Builder:
    """Channel arithmetic and padding shared by both nets.

    Args:
        width: multiplies every channel count.
        small_input: pad the paper's "valid" convolutions (for inputs below 75x75).
    """

    def __init__(self, width: float, small_input: bool) -> None:
        self.width = width
        self.valid_pad = 1 if small_input else 0

    def c(self, channels: int) -> int:
        return scaled(channels, self.width)

    def conv(self, in_ch: int, out_ch: int, kernel=1, stride: int = 1, valid: bool = False):
        padding = self.valid_pad if valid else None
        return conv_bn(in_ch, out_ch, kernel, stride, padding, eps=1e-3)

    def chain(self, in_ch: int, steps: Sequence[tuple]) -> nn.Sequential:
        """Convolutions in sequence; each step is ``(channels, kernel[, stride, valid])``."""
        layers = []
        for channels, kernel, *rest in steps:
            out_ch = self.c(channels)
            layers.append(self.conv(in_ch, out_ch, kernel, *rest))
            in_ch = out_ch
        return nn.Sequential(*layers)

    def max_pool(self) -> nn.Module:
        return nn.MaxPool2d(3, 2, self.valid_pad)

    def avg_branch(self, in_ch: int, channels: int) -> nn.Sequential:
        return nn.Sequential(
            nn.AvgPool2d(3, 1, 1, count_include_pad=False), self.conv(in_ch, self.c(channels))
        )


def _v4_blocks(b: Builder, repeats: Sequence[int]) -> tuple[list[nn.Module], int]:
    c = b.c
    ch = c(64)
    layers: list[nn.Module] = [
        Branches(b.max_pool(), b.chain(ch, [(96, 3, 2, True)])),  # Mixed_3a: 73 -> 35 (x2)
    ]
    ch += c(96)
    layers.append(
        Branches(
            b.chain(ch, [(64, 1), (96, 3, 1, True)]),
            b.chain(ch, [(64, 1), (64, (1, 7)), (64, (7, 1)), (96, 3, 1, True)]),
        )
    )
    ch = 2 * c(96)
    layers.append(Branches(b.chain(ch, [(192, 3, 2, True)]), b.max_pool()))
    ch = c(192) + ch
    for _ in range(repeats[0]):  # Inception-A
        layers.append(
            Branches(
                b.chain(ch, [(96, 1)]),
                b.chain(ch, [(64, 1), (96, 3)]),
                b.chain(ch, [(64, 1), (96, 3), (96, 3)]),
                b.avg_branch(ch, 96),
            )
        )
        ch = 4 * c(96)
    layers.append(  # Reduction-A (k, l, m, n = 192, 224, 256, 384)
        Branches(
            b.chain(ch, [(384, 3, 2, True)]),
            b.chain(ch, [(192, 1), (224, 3), (256, 3, 2, True)]),
            b.max_pool(),
        )
    )
    ch = c(384) + c(256) + ch
    for _ in range(repeats[1]):  # Inception-B
        layers.append(
            Branches(
                b.chain(ch, [(384, 1)]),
                b.chain(ch, [(192, 1), (224, (1, 7)), (256, (7, 1))]),
                b.chain(ch, [(192, 1), (192, (7, 1)), (224, (1, 7)), (224, (7, 1)), (256, (1, 7))]),
                b.avg_branch(ch, 128),
            )
        )
        ch = c(384) + 2 * c(256) + c(128)
    layers.append(  # Reduction-B
        Branches(
            b.chain(ch, [(192, 1), (192, 3, 2, True)]),
            b.chain(ch, [(256, 1), (256, (1, 7)), (320, (7, 1)), (320, 3, 2, True)]),
            b.max_pool(),
        )
    )
    ch = c(192) + c(320) + ch
    for _ in range(repeats[2]):  # Inception-C
        layers.append(
            Branches(
                b.chain(ch, [(256, 1)]),
                nn.Sequential(b.chain(ch, [(384, 1)]), Split(b.conv, c(384), c(256))),
                nn.Sequential(
                    b.chain(ch, [(384, 1), (448, (3, 1)), (512, (1, 3))]),
                    Split(b.conv, c(512), c(256)),
                ),
                b.avg_branch(ch, 256),
            )
        )
        ch = 6 * c(256)
    return layers, ch


def _resnet_v2_blocks(b: Builder, repeats: Sequence[int]) -> tuple[list[nn.Module], int]:
    c = b.c
    ch = c(64)
    layers: list[nn.Module] = [b.max_pool(), b.chain(ch, [(80, 1), (192, 3, 1, True)])]
    layers.append(b.max_pool())
    ch = c(192)
    layers.append(  # Mixed_5b
        Branches(
            b.chain(ch, [(96, 1)]),
            b.chain(ch, [(48, 1), (64, 5)]),
            b.chain(ch, [(64, 1), (96, 3), (96, 3)]),
            b.avg_branch(ch, 64),
        )
    )
    ch = c(96) + c(64) + c(96) + c(64)
    for _ in range(repeats[0]):  # Inception-ResNet-A (Block35)
        branches = Branches(
            b.chain(ch, [(32, 1)]),
            b.chain(ch, [(32, 1), (32, 3)]),
            b.chain(ch, [(32, 1), (48, 3), (64, 3)]),
        )
        layers.append(Residual(branches, 2 * c(32) + c(64), ch, 0.17, True))
    layers.append(  # Reduction-A (k, l, m, n = 256, 256, 384, 384)
        Branches(
            b.chain(ch, [(384, 3, 2, True)]),
            b.chain(ch, [(256, 1), (256, 3), (384, 3, 2, True)]),
            b.max_pool(),
        )
    )
    ch = 2 * c(384) + ch
    for _ in range(repeats[1]):  # Inception-ResNet-B (Block17)
        branches = Branches(
            b.chain(ch, [(192, 1)]), b.chain(ch, [(128, 1), (160, (1, 7)), (192, (7, 1))])
        )
        layers.append(Residual(branches, 2 * c(192), ch, 0.1, True))
    layers.append(  # Reduction-B (Mixed_7a)
        Branches(
            b.chain(ch, [(256, 1), (384, 3, 2, True)]),
            b.chain(ch, [(256, 1), (288, 3, 2, True)]),
            b.chain(ch, [(256, 1), (288, 3), (320, 3, 2, True)]),
            b.max_pool(),
        )
    )
    ch = c(384) + c(288) + c(320) + ch
    for i in range(repeats[2]):  # Inception-ResNet-C (Block8); the last one has no ReLU
        branches = Branches(
            b.chain(ch, [(192, 1)]), b.chain(ch, [(192, 1), (224, (1, 3)), (256, (3, 1))])
        )
        last = i == repeats[2] - 1
        layers.append(Residual(branches, c(192) + c(256), ch, 1.0 if last else 0.2, not last))
    layers.append(b.chain(ch, [(1536, 1)]))
    return layers, c(1536)


class InceptionNet(nn.Module):
    """Inception-v4 or Inception-ResNet-v2.

    Args:
        variant: ``"v4"`` or ``"resnet_v2"``.
        num_classes: classifier width.
        width: multiplies every channel count (1.0 is the paper's net).
        repeats: blocks per grid size (default: the paper's).
        small_input: pad "valid" convolutions and use a stride-1 first convolution.
        dropout: dropout before the classifier (the paper keeps 0.8, i.e. drops 0.2).
    """

    def __init__(
        self,
        variant: str = "v4",
        num_classes: int = 1000,
        width: float = 1.0,
        repeats: Sequence[int] | None = None,
        small_input: bool = False,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        b = Builder(width, small_input)
        stem = [(32, 3, 1 if small_input else 2, True), (32, 3, 1, True), (64, 3)]
        self.stem = b.chain(3, stem)
        if variant == "v4":
            blocks, ch = _v4_blocks(b, repeats or (4, 7, 3))
        elif variant == "resnet_v2":
            blocks, ch = _resnet_v2_blocks(b, repeats or (10, 20, 10))
        else:
            raise ValueError(f"unknown Inception variant {variant!r}")
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(self.stem(x))).flatten(1)
        return self.fc(self.dropout(x))


@register_model(family="inception_v4", input_size=299, preprocess=INCEPTION_PREPROCESS)
def inception_v4(num_classes: int = 1000) -> nn.Module:
    """Inception-v4 (42.7 M params at 1000 classes, 299x299)."""
    return InceptionNet("v4", num_classes)


@register_model(family="inception_v4", input_size=299, preprocess=INCEPTION_PREPROCESS)
def inception_resnet_v2(num_classes: int = 1000) -> nn.Module:
    """Inception-ResNet-v2 (55.8 M params at 1000 classes, 299x299)."""
    return InceptionNet("resnet_v2", num_classes)


@register_model(family="inception_v4", input_size=32, num_classes=10, preprocess=DIGITS_PREPROCESS)
def inception_v4_small(num_classes: int = 10) -> nn.Module:
    """Inception-v4 at width 1/8, one block per grid size, for 32x32 inputs (digits)."""
    return InceptionNet("v4", num_classes, width=0.125, repeats=(1, 1, 1), small_input=True)


@register_model(family="inception_v4", input_size=32, num_classes=10, preprocess=DIGITS_PREPROCESS)
def inception_resnet_v2_small(num_classes: int = 10) -> nn.Module:
    """Inception-ResNet-v2 at width 1/8, one block per grid size, for 32x32 inputs (digits)."""
    return InceptionNet("resnet_v2", num_classes, width=0.125, repeats=(1, 1, 1), small_input=True)
