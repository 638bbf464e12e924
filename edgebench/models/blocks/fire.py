"""SqueezeNet's fire module: a 1x1 squeeze, then parallel 1x1 and 3x3 expands, concatenated."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from edgebench.models.blocks.dice import DiCE
from edgebench.models.blocks.ghost import GhostModule
from edgebench.models.blocks.layers import ChannelShuffle, GroupedPointwise, conv_bn_act, projection

SQUEEZES = ("conv", "grouped", "grouped-gcd", "ghost")
EXPAND_1X1 = ("conv", "pointwise", "grouped")
EXPAND_3X3 = ("conv", "grouped", "ghost", "ghost-grouped", "dice")


class ResidualFire(nn.Module):
    """A fire module in a ResNet bottleneck's place: squeeze to `hidden`, expands of out/2 + out/2 (with
    biases, ReLU each, no BatchNorm), added to the shortcut (a biased 1x1 + BatchNorm where shapes change)."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int, stride: int = 1, project: bool = False):
        super().__init__()
        half = out_ch // 2
        self.squeeze = nn.Sequential(nn.Conv2d(in_ch, hidden, 1), nn.ReLU(inplace=True))
        self.expand1x1 = nn.Sequential(nn.Conv2d(hidden, half, 1, stride=stride), nn.ReLU(inplace=True))
        self.expand3x3 = nn.Sequential(nn.Conv2d(hidden, out_ch - half, 3, stride=stride, padding=1),
                                       nn.ReLU(inplace=True))
        self.shortcut = projection(in_ch, out_ch, stride, bias=True) if project else nn.Identity()

    def forward(self, x):
        squeezed = self.squeeze(x)
        return self.shortcut(x) + torch.cat((self.expand1x1(squeezed), self.expand3x3(squeezed)), 1)


def _squeeze(kind: str, in_ch: int, out_ch: int, min_channels: int) -> nn.Module:
    if kind == "conv":
        return conv_bn_act(in_ch, out_ch, 1, bias=True, act="relu")
    if kind == "grouped":
        return GroupedPointwise(in_ch, out_ch, 4, act="relu", min_channels=min_channels)
    if kind == "grouped-gcd":
        return GroupedPointwise(in_ch, out_ch, math.gcd(in_ch, out_ch), act="relu", min_channels=min_channels)
    if kind == "ghost":
        return GhostModule(in_ch, out_ch)
    raise ValueError(f"unknown squeeze '{kind}'")


def _expand1x1(kind: str, in_ch: int, out_ch: int, min_channels: int) -> nn.Module:
    if kind == "conv":
        return conv_bn_act(in_ch, out_ch, 1, bias=True)
    if kind == "pointwise":
        return conv_bn_act(in_ch, out_ch, 1)
    if kind == "grouped":
        return GroupedPointwise(in_ch, out_ch, 4, shuffle=False, min_channels=min_channels)
    raise ValueError(f"unknown 1x1 expand '{kind}'")


def _expand3x3(kind: str, in_ch: int, out_ch: int, min_channels: int, size: Optional[int]) -> nn.Module:
    if kind == "conv":
        return conv_bn_act(in_ch, out_ch, 3, bias=True)
    if kind == "grouped":  # one group per squeeze channel: each makes out/in maps from its own input
        return conv_bn_act(in_ch, out_ch, 3, groups=in_ch)
    if kind == "ghost":
        return GhostModule(in_ch, out_ch, act=None)
    if kind == "ghost-grouped":
        return GhostModule(in_ch, out_ch, act=None, groups=4, min_channels=min_channels)
    if kind == "dice":
        return DiCE(in_ch, out_ch, size)
    raise ValueError(f"unknown 3x3 expand '{kind}'")


class Fire(nn.Module):
    """The study's VGG fire layer: squeeze to out/`squeeze_ratio`, expands of out/2 + out/2 (each with
    BatchNorm), concatenated, optionally shuffled, ReLU. The kinds choose each part's technique."""

    def __init__(self, in_ch: int, out_ch: int, *, squeeze_ratio: int = 8, squeeze: str = "conv",
                 expand1x1: str = "conv", expand3x3: str = "conv", shuffle: int = 0, min_channels: int = 24,
                 size: Optional[int] = None):
        super().__init__()
        squeezed, half = out_ch // squeeze_ratio, out_ch // 2
        self.squeeze = _squeeze(squeeze, in_ch, squeezed, min_channels)
        self.expand1x1 = _expand1x1(expand1x1, squeezed, half, min_channels)
        self.expand3x3 = _expand3x3(expand3x3, squeezed, out_ch - half, min_channels, size)
        self.shuffle = ChannelShuffle(out_ch, shuffle) if shuffle else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        squeezed = self.squeeze(x)
        out = torch.cat((self.expand1x1(squeezed), self.expand3x3(squeezed)), 1)
        return self.act(self.shuffle(out))
