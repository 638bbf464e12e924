"""GhostNet: a ghost module makes half its channels with a 1x1 and the other half cheaply from those."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from edgebench.models.blocks.layers import GroupedPointwise, activation, conv_bn_act, projection
from edgebench.models.blocks.se import SqueezeExcite


class GhostModule(nn.Module):
    """Primary 1x1 to out/2 channels, a depthwise 3x3 on them (the "ghosts"), concatenated, BatchNorm.

    `groups` > 1 makes the primary 1x1 grouped and shuffled (inputs of `min_channels` or fewer channels
    stay ungrouped)."""

    def __init__(self, in_ch: int, out_ch: int, *, act: Optional[str] = "relu6", norm: bool = True,
                 groups: int = 1, min_channels: int = 0):
        super().__init__()
        primary = out_ch // 2
        if groups > 1:
            self.primary = GroupedPointwise(in_ch, primary, groups, norm=False, min_channels=min_channels)
        else:
            self.primary = nn.Conv2d(in_ch, primary, 1, bias=False)
        self.cheap = nn.Conv2d(primary, primary, 3, padding=1, groups=primary, bias=False)
        self.bn = nn.BatchNorm2d(primary * 2) if norm else nn.Identity()
        self.act = activation(act)

    def forward(self, x):
        primary = self.primary(x)
        return self.act(self.bn(torch.cat((self.cheap(primary), primary), 1)))


class GhostBottleneck(nn.Module):
    """Ghost module (expand) -> [depthwise 3x3 stride] -> [SE] -> ghost module (project, linear) + shortcut.

    `depthwise` says which blocks carry the depthwise 3x3: "stride" (the strided ones, GhostNet's rule)
    or "projection" (every block with a projection shortcut, as in the study's variants 10-12)."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int, stride: int = 1, project: bool = False, *,
                 groups: int = 1, se: bool = False, depthwise: str = "stride"):
        super().__init__()
        self.expand = GhostModule(in_ch, hidden, groups=groups)
        use_depthwise = stride > 1 if depthwise == "stride" else project
        self.depthwise = (conv_bn_act(hidden, hidden, 3, stride=stride, groups=hidden) if use_depthwise
                          else nn.Identity())
        self.se = SqueezeExcite(hidden) if se else nn.Identity()
        self.project = GhostModule(hidden, out_ch, act=None, groups=groups)
        self.shortcut = projection(in_ch, out_ch, stride) if project else nn.Identity()

    def forward(self, x):
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return out + self.shortcut(x)
