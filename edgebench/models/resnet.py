"""ResNets in the CIFAR form the study uses: 3x3 stride-1 stem, no max-pool, global average pool, FC."""

from __future__ import annotations

from functools import partial
from typing import Sequence, Type, Union

from torch import nn

from edgebench.models.registry import register_model


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


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck: the stride sits on the 3x3 convolution."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = conv_bn(in_ch, width, 1)
        self.conv2 = conv_bn(width, width, 3, stride)
        self.conv3 = conv_bn(width, out_ch, 1)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = conv_bn(in_ch, out_ch, 1, stride) if stride != 1 or in_ch != out_ch else nn.Identity()

    def forward(self, x):
        out = self.relu(self.conv1(x))
        out = self.relu(self.conv2(out))
        out = self.conv3(out)
        return self.relu(out + self.shortcut(x))


Block = Union[Type[BasicBlock], Type[Bottleneck]]


class ResNet(nn.Module):
    def __init__(self, block: Block, depths: Sequence[int], widths: Sequence[int], *,
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
_RESNETS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
    "resnet152": (Bottleneck, (3, 8, 36, 3)),
}
for _name, (_block, _depths) in _RESNETS.items():
    register_model(
        _name, partial(ResNet, _block, _depths, _IMAGENET_WIDTHS), family="resnet",
        description=f"{_name} (torchvision layout, CIFAR stem)",
    )

register_model(
    "resnet20", partial(ResNet, BasicBlock, (3, 3, 3), (16, 32, 64), stem_width=16), family="resnet",
    description="ResNet-20 for CIFAR (He et al. 2016, 1x1 projection shortcuts)",
)
register_model(
    "resnet8", partial(ResNet, BasicBlock, (1, 1, 1), (32, 64, 128), stem_width=32), family="resnet",
    description="small 3-stage ResNet (32/64/128): the demo model",
)
register_model(
    "test_resnet", partial(ResNet, Bottleneck, (1, 1), (8, 16), stem_width=8), family="test",
    description="tiny bottleneck ResNet for tests",
)
