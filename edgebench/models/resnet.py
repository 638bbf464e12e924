"""ResNets in the CIFAR form the study uses: 3x3 stride-1 stem, no max-pool, global average pool, FC.

Basic-block ResNets are built here; bottleneck ResNets (50/101/152) are architectures described as data and
built by the variants' builder, so the study's baseline `resnet101` and its variant file `resnet101-v1` are one
network through one Bottleneck class.
"""

from __future__ import annotations

from functools import partial
from typing import Sequence, Tuple, Type

from torch import nn

from edgebench.models.registry import register_model
from edgebench.models.variants.resnet import VariantResNet
from edgebench.models.variants.spec import ResNetArch, Run


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
    )


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = conv_bn(in_ch, width, 3, stride)
        self.conv2 = conv_bn(width, out_ch, 3)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = conv_bn(in_ch, out_ch, 1, stride) if stride != 1 or in_ch != out_ch else nn.Identity()

    def forward(self, x):
        out = self.relu(self.conv1(x))
        out = self.conv2(out)
        return self.relu(out + self.shortcut(x))




class ResNet(nn.Module):
    def __init__(self, block: Type[BasicBlock], depths: Sequence[int], widths: Sequence[int], *,
                 num_classes: int = 10, in_channels: int = 3, stem_width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(in_channels, stem_width, 3), nn.ReLU(inplace=True))
        stages = []
        channels = stem_width
        for index, (depth, width) in enumerate(zip(depths, widths)):
            blocks = []
            for block_index in range(depth):
                stride = 2 if index > 0 and block_index == 0 else 1
                blocks.append(block(channels, width, stride))
                channels = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.fc(self.pool(x).flatten(1))


_IMAGENET_WIDTHS = (64, 128, 256, 512)


def bottleneck_arch(depths: Sequence[int], widths: Sequence[int] = _IMAGENET_WIDTHS, stem_width: int = 64):
    """torchvision's bottleneck ResNet (v1.5, expansion 4) with the CIFAR stem, as a variant architecture."""
    stages: Tuple = tuple((Run(count=depth, out=4 * width, hidden=width, stride=1 if index == 0 else 2),)
                          for index, (depth, width) in enumerate(zip(depths, widths)))
    return ResNetArch(stem="conv3x3", stem_width=stem_width, block="bottleneck", block_options={}, stages=stages)


def _bottleneck_resnet(depths: Sequence[int], widths: Sequence[int] = _IMAGENET_WIDTHS, stem_width: int = 64,
                       **config) -> nn.Module:
    return VariantResNet(bottleneck_arch(depths, widths, stem_width), **config)


for _name, _depths in {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}.items():
    register_model(_name, partial(ResNet, BasicBlock, _depths, _IMAGENET_WIDTHS), family="resnet",
                   description=f"{_name} (torchvision layout, CIFAR stem)")
for _name, _depths in {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3)}.items():
    register_model(_name, partial(_bottleneck_resnet, _depths), family="resnet",
                   description=f"{_name} (torchvision layout, CIFAR stem)")

register_model(
    "resnet20", partial(ResNet, BasicBlock, (3, 3, 3), (16, 32, 64), stem_width=16), family="resnet",
    description="ResNet-20 for CIFAR (He et al. 2016, 1x1 projection shortcuts)",
)
register_model(
    "resnet8", partial(ResNet, BasicBlock, (1, 1, 1), (32, 64, 128), stem_width=32), family="resnet",
    description="small 3-stage ResNet (32/64/128): the demo model",
)
register_model(
    "test_resnet", partial(_bottleneck_resnet, (1, 1), (8, 16), 8), family="test",
    description="tiny bottleneck ResNet for tests",
)
