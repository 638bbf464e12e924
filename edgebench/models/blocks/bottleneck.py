"""ResNet bottlenecks: torchvision's (with a choice of 3x3 convolution) and the ShuffleNet-style one."""

from __future__ import annotations

from torch import nn

from edgebench.models.blocks.layers import DepthwiseSeparable, FactorizedConv, GroupedPointwise, projection

SPATIAL_CONVS = ("standard", "factorized", "depthwise")


def spatial_conv(kind: str, channels: int, stride: int) -> nn.Module:
    """The bottleneck's 3x3: a full convolution, 3x1 + 1x3, or depthwise (C*9 weights instead of C*C*9)."""
    if kind == "standard":
        return nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
    if kind == "factorized":
        return FactorizedConv(channels, channels, 3, stride)
    if kind == "depthwise":
        return DepthwiseSeparable(channels, None, 3, stride)
    raise ValueError(f"unknown 3x3 convolution '{kind}'")


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck (the stride on the 3x3); `conv` picks the 3x3's form."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int, stride: int = 1, project: bool = False,
                 conv: str = "standard"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = spatial_conv(conv, hidden, stride)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = nn.Conv2d(hidden, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = projection(in_ch, out_ch, stride) if project else nn.Identity()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


class ShuffleBottleneck(nn.Module):
    """ShuffleNet unit in the bottleneck's place: grouped 1x1 + shuffle, depthwise 3x3, grouped 1x1 + shuffle."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int, stride: int = 1, project: bool = False,
                 groups: int = 4, min_channels: int = 24):
        super().__init__()
        self.reduce = GroupedPointwise(in_ch, hidden, groups, act="relu", min_channels=min_channels)
        self.depthwise = DepthwiseSeparable(hidden, None, 3, stride)
        self.bn = nn.BatchNorm2d(hidden)
        self.expand = GroupedPointwise(hidden, out_ch, groups, min_channels=min_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = projection(in_ch, out_ch, stride) if project else nn.Identity()

    def forward(self, x):
        out = self.bn(self.depthwise(self.reduce(x)))  # no activation after the depthwise, as in ShuffleNet
        return self.relu(self.expand(out) + self.shortcut(x))
