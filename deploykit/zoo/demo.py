"""Small seed architectures sized for 32x32 inputs, trained on digits by the demo."""

from __future__ import annotations

from torch import nn
from torchvision.models import MobileNetV2
from torchvision.models.resnet import BasicBlock

from deploykit.registry import register_model
from deploykit.spec import Preprocess

# Digits are grey strokes in [0, 1]; centring them on 0.5 is all the model needs.
DIGITS_PREPROCESS = Preprocess(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


class SmallResNet(nn.Module):
    """A CIFAR-style ResNet: 3x3 stem, three stages of basic blocks, global pool."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages, in_ch = [], widths[0]
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or in_ch != width:
                down = nn.Sequential(
                    nn.Conv2d(in_ch, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
                )
            stages.append(BasicBlock(in_ch, width, stride=stride, downsample=down))
            in_ch = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        x = self.pool(self.stages(self.stem(x)))
        return self.fc(x.flatten(1))


@register_model(family="resnet", input_size=32, num_classes=10, preprocess=DIGITS_PREPROCESS)
def demo_resnet(num_classes: int = 10) -> nn.Module:
    """ResNet-8 for 32x32 inputs (three basic blocks, widths 16/32/64)."""
    return SmallResNet(num_classes)


@register_model(family="mobilenet", input_size=32, num_classes=10, preprocess=DIGITS_PREPROCESS)
def demo_mobilenet_v2(num_classes: int = 10) -> nn.Module:
    """MobileNetV2 at width 0.5 with strides for 32x32 inputs."""
    # t, c, n, s: expansion, channels, repeats, stride (stem already halves 32 -> 16)
    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 2, 1]]
    return MobileNetV2(num_classes=num_classes, width_mult=0.5, inverted_residual_setting=setting)
