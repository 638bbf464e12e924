"""MobileNetV2's inverted residual: expand 1x1, depthwise 3x3, linear 1x1 projection, ReLU6."""

from __future__ import annotations

from torch import nn

from edgebench.models.blocks.layers import conv_bn_act, projection


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, hidden: int, out_ch: int, stride: int = 1, project: bool = False):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_act(in_ch, hidden, 1, act="relu6"),
            conv_bn_act(hidden, hidden, 3, stride=stride, groups=hidden, act="relu6"),
            conv_bn_act(hidden, out_ch, 1),  # linear bottleneck: no activation
        )
        self.shortcut = projection(in_ch, out_ch, stride) if project else nn.Identity()

    def forward(self, x):
        return self.body(x) + self.shortcut(x)
