"""Builds a ResNet-family variant from its spec: stem, stages of residual blocks, tail, pooling, head."""

from __future__ import annotations

from typing import Callable, Dict

from torch import nn

from edgebench.models import blocks
from edgebench.models.variants.spec import ResNetArch


def _bottleneck(i, h, o, s, p, size, conv="standard"):
    return blocks.Bottleneck(i, h, o, s, p, conv=conv)


def _ghost(i, h, o, s, p, size, groups=1, se=False, depthwise="stride"):
    return blocks.GhostBottleneck(i, h, o, s, p, groups=groups, se=se, depthwise=depthwise)


def _shuffle(i, h, o, s, p, size, groups=4):
    return blocks.ShuffleBottleneck(i, h, o, s, p, groups)


def _dice(i, h, o, s, p, size, study_parity=False):
    return blocks.DiceBottleneck(i, h, o, s, p, size=size, study_parity=study_parity)


# block kind (checked against `kinds.BLOCK_KINDS` by the spec) -> how to build one block
BLOCKS: Dict[str, Callable[..., nn.Module]] = {
    "bottleneck": _bottleneck,
    "residual-fire": lambda i, h, o, s, p, size: blocks.ResidualFire(i, h, o, s, p),
    "shuffle-bottleneck": _shuffle,
    "inverted-residual": lambda i, h, o, s, p, size: blocks.InvertedResidual(i, h, o, s, p),
    "ghost": _ghost,
    "dice": _dice,
}

STEMS = {
    "conv3x3": lambda i, o: nn.Conv2d(i, o, 3, padding=1, bias=False),
    "factorized": lambda i, o: blocks.FactorizedConv(i, o),
    "depthwise-separable": lambda i, o: blocks.DepthwiseSeparable(i, o),
}


class VariantResNet(nn.Module):
    """CIFAR-form ResNet: stem (no max-pool) -> stages -> tail 1x1s -> global average pool -> [FC]."""

    def __init__(self, arch: ResNetArch, *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32):
        super().__init__()
        self.stem = nn.Sequential(STEMS[arch.stem](in_channels, arch.stem_width), nn.BatchNorm2d(arch.stem_width),
                                  nn.ReLU(inplace=True))
        make = BLOCKS[arch.block]
        channels, size, first = arch.stem_width, input_size, True
        stages = []
        for stage in arch.stages:
            layers = []
            for run in stage:
                for index in range(run.count):
                    stride = run.stride if index == 0 else 1
                    size = (size - 1) // stride + 1
                    # The network's first block always projects (torchvision's layer1[0] does, and the study keeps it).
                    project = first or stride != 1 or channels != run.out
                    layers.append(make(channels, run.hidden, run.out, stride, project, size, **arch.block_options))
                    channels, first = run.out, False
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        tail = []
        for layer in arch.tail:
            width = num_classes if layer.out == "classes" else int(layer.out)
            tail.append(blocks.conv_bn_act(channels, width, 1, act=layer.act))
            channels = width
        self.tail = nn.Sequential(*tail)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes, bias=arch.fc_bias) if arch.fc else nn.Identity()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.tail(self.stages(self.stem(x)))
        return self.fc(self.pool(x).flatten(1))

