"""DiCE units (Mehta et al., "DiCENet"): dimension-wise convolutions along channels, height and width,
fused by a dimension-wise fusion (grouped weighted average + grouped 3x3 projection, gated by a squeeze)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from edgebench.models.blocks.layers import ChannelShuffle, conv_bn_act, projection


def _fit(x, dim: int, size: int):
    """Resize dimension `dim` (2 = height, 3 = width) to `size`: bilinear up, average-pool down."""
    if x.shape[dim] == size:
        return x
    target = (size, x.shape[3]) if dim == 2 else (x.shape[2], size)
    if x.shape[dim] < size:
        return F.interpolate(x, size=target, mode="bilinear", align_corners=True)
    return F.adaptive_avg_pool2d(x, target)


class DiCE(nn.Module):
    """Depthwise 3x3 convolutions along each of the three dimensions of a C x H x W volume.

    The height- and width-wise convolutions treat H (or W) as channels, so the unit is built for one
    spatial `size` (other sizes are resized to it and back, as DiCENet does)."""

    def __init__(self, in_ch: int, out_ch: int, size: int):
        super().__init__()
        if not size:
            raise ValueError("a DiCE unit needs the spatial size it runs at")
        self.size = size
        self.channel_wise = nn.Conv2d(in_ch, in_ch, 3, padding=1, groups=in_ch, bias=False)
        self.height_wise = nn.Conv2d(size, size, 3, padding=1, groups=size, bias=False)
        self.width_wise = nn.Conv2d(size, size, 3, padding=1, groups=size, bias=False)
        self.merge = nn.Sequential(nn.BatchNorm2d(3 * in_ch), nn.ReLU(inplace=True), ChannelShuffle(3 * in_ch, 3))
        # DiCENet's fusion pads the 1x1 by one pixel and the 3x3 projection takes it off again.
        self.weighted_average = nn.Sequential(
            nn.Conv2d(3 * in_ch, in_ch, 1, padding=1, groups=in_ch, bias=False),
            nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True),
        )
        self.project = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, groups=math.gcd(in_ch, out_ch), bias=False),
            nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
        )
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_ch, in_ch // 4, 1, bias=False), nn.ReLU(inplace=True),
            nn.Conv2d(in_ch // 4, out_ch, 1, bias=False), nn.Sigmoid(),
        )

    def _along(self, x, dim: int, conv: nn.Module):
        height, width = x.shape[2], x.shape[3]
        moved = _fit(x, dim, self.size).transpose(1, dim)
        out = conv(moved).transpose(1, dim)
        return _fit(_fit(out, 2, height), 3, width)

    def forward(self, x):
        merged = self.merge(torch.cat((self.channel_wise(x), self._along(x, 2, self.height_wise),
                                       self._along(x, 3, self.width_wise)), 1))
        fused = self.weighted_average(merged)
        return self.project(fused) * self.gate(fused)


class StridedDiCE(nn.Module):
    """Downsampling DiCE: a depthwise-separable stride-2 branch and an average-pool + DiCE branch, each
    making half the output channels, concatenated and shuffled. `size` is the output size."""

    def __init__(self, in_ch: int, out_ch: int, size: int):
        super().__init__()
        half = round(out_ch / 2)
        self.left = nn.Sequential(
            conv_bn_act(in_ch, in_ch, 3, stride=2, groups=in_ch, act="relu"),
            conv_bn_act(in_ch, half, 1, act="relu"),
        )
        self.right = nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1), DiCE(in_ch, half, size))
        self.shuffle = ChannelShuffle(2 * half, 2)

    def forward(self, x):
        return self.shuffle(torch.cat((self.left(x), self.right(x)), 1))


class DiceBottleneck(nn.Module):
    """1x1 expand (BatchNorm, ReLU), then a DiCE unit (strided where the block strides), plus the shortcut.

    `study_parity` adds the depthwise 3x3 + BatchNorm that the study's reference code builds in every
    projecting block and never calls: it only makes the parameter count match the published one."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int, stride: int = 1, project: bool = False, *,
                 size: int = 32, study_parity: bool = False):
        super().__init__()
        self.expand = conv_bn_act(in_ch, hidden, 1, act="relu")
        self.dice = StridedDiCE(hidden, out_ch, size) if stride > 1 else DiCE(hidden, out_ch, size)
        self.shortcut = projection(in_ch, out_ch, stride) if project else nn.Identity()
        if study_parity and project:
            self.unused_depthwise = conv_bn_act(hidden, hidden, 3, stride=stride, groups=hidden)

    def forward(self, x):
        return self.dice(self.expand(x)) + self.shortcut(x)
