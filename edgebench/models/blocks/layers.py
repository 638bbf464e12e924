"""Convolution building blocks shared by the techniques: factorised, depthwise separable, grouped pointwise."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6}


def activation(name: Optional[str]) -> nn.Module:
    return ACTIVATIONS[name](inplace=True) if name else nn.Identity()


def conv_bn_act(in_ch: int, out_ch: int, kernel: int = 1, *, stride: int = 1, groups: int = 1, bias: bool = False,
                norm: bool = True, act: Optional[str] = None) -> nn.Sequential:
    """Convolution, then BatchNorm and an activation when asked for."""
    layers = [nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=bias)]
    if norm:
        layers.append(nn.BatchNorm2d(out_ch))
    if act:
        layers.append(activation(act))
    return nn.Sequential(*layers)


def projection(in_ch: int, out_ch: int, stride: int = 1, *, bias: bool = False) -> nn.Sequential:
    """The 1x1 + BatchNorm shortcut of a residual block whose shape changes."""
    return conv_bn_act(in_ch, out_ch, 1, stride=stride, bias=bias)


class FactorizedConv(nn.Sequential):
    """Nx1 then 1xN (no normalisation between): N*C_in*(C_in + C_out) weights instead of N*N*C_in*C_out."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, bias: bool = False):
        pad = kernel // 2
        super().__init__(
            nn.Conv2d(in_ch, in_ch, (kernel, 1), stride=(stride, 1), padding=(pad, 0), bias=bias),
            nn.Conv2d(in_ch, out_ch, (1, kernel), stride=(1, stride), padding=(0, pad), bias=bias),
        )


class DepthwiseSeparable(nn.Sequential):
    """A depthwise NxN convolution, followed by a pointwise 1x1 one when `out_ch` is given."""

    def __init__(self, in_ch: int, out_ch: Optional[int] = None, kernel: int = 3, stride: int = 1,
                 bias: bool = False):
        layers = [nn.Conv2d(in_ch, in_ch, kernel, stride=stride, padding=kernel // 2, groups=in_ch, bias=bias)]
        if out_ch is not None:
            layers.append(nn.Conv2d(in_ch, out_ch, 1, bias=bias))
        super().__init__(*layers)


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle: channel i*c + j of g groups of c goes to j*g + i.

    Written as one gather with a constant permutation rather than reshape -> transpose -> reshape: the same
    result, and a single Gather converts to TFLite exactly, where onnx2tf mistranslates some 5-D transposes."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        if channels % groups:
            raise ValueError(f"{channels} channels cannot be shuffled in {groups} groups")
        self.groups = groups
        order = torch.arange(channels).reshape(groups, channels // groups).t().reshape(-1)
        self.register_buffer("order", order, persistent=False)  # not a weight: checkpoints stay unchanged

    def forward(self, x):
        return x.index_select(1, self.order)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class GroupedPointwise(nn.Sequential):
    """A grouped 1x1 convolution (+ BatchNorm, activation) followed by a channel shuffle.

    Inputs of `min_channels` channels or fewer get an ordinary 1x1 convolution and no shuffle, as in the
    study's VGG variants."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 4, *, stride: int = 1, norm: bool = True,
                 act: Optional[str] = None, shuffle: bool = True, min_channels: int = 0):
        grouped = in_ch > min_channels
        conv_groups = groups if grouped else 1
        layers = list(conv_bn_act(in_ch, out_ch, 1, stride=stride, groups=conv_groups, norm=norm, act=act))
        if shuffle and grouped:
            layers.append(ChannelShuffle(out_ch, groups))
        super().__init__(*layers)
