"""ShuffleNet V1 (Zhang et al., 2017): pointwise group convolutions and channel shuffle.

Table 1 of the paper: a 3x3 stride-2 stem of 24 channels and a 3x3 max pool,
then three stages of 4, 8 and 4 ShuffleNet units. Each unit is a 1x1 group
convolution (to a quarter of the output width), a channel shuffle, a 3x3
depthwise convolution and a second 1x1 group convolution; the first unit of a
stage has stride 2, average-pools its shortcut and concatenates instead of
adding. The stage widths depend on the number of groups so that every variant
costs about 140 MFLOPs at 1x and 224x224 (1.9 M parameters for g=3).
"""

from __future__ import annotations

import torch
from torch import nn

from deploykit.registry import register_model
from deploykit.zoo.layers import DIGITS_PREPROCESS, conv_bn, scaled

# Output channels of stages 2-4 at 1x, per number of groups (Table 1).
STAGE_WIDTHS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
STAGE_REPEATS = (4, 8, 4)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups so the next group conv mixes them."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """One ShuffleNet unit (Figure 2 b at stride 1, c at stride 2).

    Args:
        in_ch: input channels.
        out_ch: output channels of the unit (after the concat at stride 2).
        groups: groups of the 1x1 convolutions.
        stride: 1 (residual add) or 2 (average-pooled shortcut, concat).
        group_first: whether the first 1x1 convolution is grouped (not on the stem's output).
    """

    def __init__(
        self, in_ch: int, out_ch: int, groups: int, stride: int, group_first: bool = True
    ) -> None:
        super().__init__()
        self.stride = stride
        self.groups = groups if group_first else 1
        mid = out_ch // 4
        branch_out = out_ch - in_ch if stride == 2 else out_ch
        self.reduce = conv_bn(in_ch, mid, 1, groups=self.groups)
        self.depthwise = conv_bn(mid, mid, 3, stride, groups=mid, relu=False)
        self.expand = conv_bn(mid, branch_out, 1, groups=groups, relu=False)
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        if self.groups > 1:
            y = channel_shuffle(y, self.groups)
        y = self.expand(self.depthwise(y))
        if self.stride == 2:
            return self.relu(torch.cat([self.shortcut(x), y], 1))
        return self.relu(x + y)


class ShuffleNetV1(nn.Module):
    """ShuffleNet V1.

    Args:
        num_classes: classifier width.
        groups: 1, 2, 3, 4 or 8.
        width: the paper's scale factor s (0.5x, 1x, 2x ...).
        small_input: 32x32 inputs: stride-1 stem and no max pool.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        groups: int = 3,
        width: float = 1.0,
        small_input: bool = False,
    ) -> None:
        super().__init__()
        if groups not in STAGE_WIDTHS:
            raise ValueError(f"groups must be one of {sorted(STAGE_WIDTHS)}")
        stem = scaled(24, width) if width > 1 else 24
        self.stem = nn.Sequential(
            conv_bn(3, stem, 3, 1 if small_input else 2),
            nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1),
        )
        stages, in_ch = [], stem
        for stage, (channels, repeats) in enumerate(
            zip(STAGE_WIDTHS[groups], STAGE_REPEATS, strict=True)
        ):
            # Widths stay divisible by 4 * groups so every group convolution splits evenly.
            out_ch = max(4 * groups, round(channels * width / (4 * groups)) * 4 * groups)
            units = []
            for i in range(repeats):
                units.append(
                    ShuffleUnit(in_ch, out_ch, groups, 2 if i == 0 else 1, stage > 0 or i > 0)
                )
                in_ch = out_ch
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


@register_model(family="shufflenet_v1")
def shufflenet_v1_g1(num_classes: int = 1000) -> nn.Module:
    """ShuffleNet V1 1x, 1 group."""
    return ShuffleNetV1(num_classes, groups=1)


@register_model(family="shufflenet_v1")
def shufflenet_v1_g2(num_classes: int = 1000) -> nn.Module:
    """ShuffleNet V1 1x, 2 groups."""
    return ShuffleNetV1(num_classes, groups=2)


@register_model(family="shufflenet_v1")
def shufflenet_v1_g3(num_classes: int = 1000) -> nn.Module:
    """ShuffleNet V1 1x, 3 groups (1.9 M params at 1000 classes)."""
    return ShuffleNetV1(num_classes, groups=3)


@register_model(family="shufflenet_v1")
def shufflenet_v1_g4(num_classes: int = 1000) -> nn.Module:
    """ShuffleNet V1 1x, 4 groups."""
    return ShuffleNetV1(num_classes, groups=4)


@register_model(family="shufflenet_v1")
def shufflenet_v1_g8(num_classes: int = 1000) -> nn.Module:
    """ShuffleNet V1 1x, 8 groups."""
    return ShuffleNetV1(num_classes, groups=8)


@register_model(family="shufflenet_v1", input_size=32, num_classes=10, preprocess=DIGITS_PREPROCESS)
def shufflenet_v1_small(num_classes: int = 10) -> nn.Module:
    """ShuffleNet V1 0.5x, 3 groups, for 32x32 inputs (digits)."""
    return ShuffleNetV1(num_classes, groups=3, width=0.5, small_input=True)
