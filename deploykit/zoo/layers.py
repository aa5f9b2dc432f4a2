"""Building blocks shared by the zoo families (not a family module: registers nothing)."""

from __future__ import annotations

from torch import nn

from deploykit.spec import Preprocess

# Digits are grey strokes in [0, 1]; centring them on 0.5 is all a small model needs.
DIGITS_PREPROCESS = Preprocess(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
# Inception-style nets (Xception, Inception-v4, Inception-ResNet-v2) were trained on [-1, 1].
INCEPTION_PREPROCESS = Preprocess(resize=342, crop=299, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def conv_bn(
    in_ch: int,
    out_ch: int,
    kernel: int | tuple[int, int] = 1,
    stride: int = 1,
    padding: int | tuple[int, int] | None = None,
    groups: int = 1,
    relu: bool = True,
    eps: float = 1e-5,
) -> nn.Sequential:
    """Convolution (no bias), BatchNorm and optionally ReLU.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        kernel: kernel size (int or (h, w)).
        stride: stride.
        padding: padding; None means "same" for odd kernels at stride 1.
        groups: convolution groups.
        relu: append a ReLU.
        eps: BatchNorm epsilon (TF-trained families use 1e-3).
    """
    if padding is None:
        padding = (kernel[0] // 2, kernel[1] // 2) if isinstance(kernel, tuple) else kernel // 2
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch, eps=eps),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def scaled(channels: int, width: float, minimum: int = 8) -> int:
    """``channels * width`` rounded to a whole channel, at least ``minimum``."""
    return max(minimum, round(channels * width))
