"""Mobile architectures: depthwise separable, inverted residual, squeeze-excitation, ghost, shuffle."""

from __future__ import annotations

import torch
from torch import nn

from tests.corpus.layers import Classifier, SqueezeExcite, channel_shuffle, conv_bn, make_divisible


def mobilenet_v1(num_classes=10, in_channels=3):
    plan = ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1))
    layers, channels = [conv_bn(in_channels, 16)], 16
    for width, stride in plan:
        layers += [conv_bn(channels, channels, 3, stride, groups=channels), conv_bn(channels, width, 1)]
        channels = width
    return nn.Sequential(*layers, Classifier(channels, num_classes))


class InvertedResidual(nn.Module):
    """MBConv: expand 1x1 -> depthwise k x k -> optional SE -> project 1x1; residual when shapes match."""

    def __init__(self, inputs, outputs, stride, expand, kernel=3, activation=nn.ReLU6, se=None):
        super().__init__()
        hidden = inputs * expand
        layers = [conv_bn(inputs, hidden, 1, activation=activation)] if expand != 1 else []
        layers.append(conv_bn(hidden, hidden, kernel, stride, groups=hidden, activation=activation))
        if se is not None:
            layers.append(se(hidden))
        layers.append(conv_bn(hidden, outputs, 1, activation=None))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def _mbconv_net(stem, plan, head, num_classes, in_channels, stem_activation=nn.ReLU6, head_activation=nn.ReLU6):
    layers, channels = [conv_bn(in_channels, stem, activation=stem_activation)], stem
    for width, stride, expand, kernel, activation, se in plan:
        layers.append(InvertedResidual(channels, width, stride, expand, kernel, activation, se))
        channels = width
    layers.append(conv_bn(channels, head, 1, activation=head_activation))
    return nn.Sequential(*layers, Classifier(head, num_classes))


def mobilenet_v2(num_classes=10, in_channels=3):
    relu6 = nn.ReLU6
    plan = [(16, 1, 1, 3, relu6, None), (24, 2, 6, 3, relu6, None), (24, 1, 6, 3, relu6, None),
            (32, 2, 6, 3, relu6, None), (32, 1, 6, 3, relu6, None), (64, 2, 6, 3, relu6, None),
            (96, 1, 6, 3, relu6, None)]
    return _mbconv_net(16, plan, 256, num_classes, in_channels)


def _hard_se(channels):
    return SqueezeExcite(channels, make_divisible(channels / 4), gate=nn.Hardsigmoid)


def mobilenet_v3_small(num_classes=10, in_channels=3):
    hs, relu = nn.Hardswish, nn.ReLU
    plan = [(16, 2, 1, 3, relu, _hard_se), (24, 2, 4, 3, relu, None), (24, 1, 3, 3, relu, None),
            (40, 2, 4, 5, hs, _hard_se), (40, 1, 6, 5, hs, _hard_se), (48, 1, 3, 5, hs, _hard_se)]
    return _mbconv_net(16, plan, 128, num_classes, in_channels, stem_activation=hs, head_activation=hs)


def _silu_se(channels):
    return SqueezeExcite(channels, max(4, channels // 24), activation=nn.SiLU)


def efficientnet_b0(num_classes=10, in_channels=3):
    silu = nn.SiLU
    plan = [(16, 1, 1, 3, silu, _silu_se), (24, 2, 6, 3, silu, _silu_se), (24, 1, 6, 3, silu, _silu_se),
            (40, 2, 6, 5, silu, _silu_se), (80, 2, 6, 3, silu, _silu_se), (112, 1, 6, 5, silu, _silu_se)]
    return _mbconv_net(16, plan, 192, num_classes, in_channels, stem_activation=silu, head_activation=silu)


def mnasnet(num_classes=10, in_channels=3):
    relu = nn.ReLU
    plan = [(16, 1, 1, 3, relu, None), (24, 2, 3, 3, relu, None), (24, 1, 3, 3, relu, None),
            (40, 2, 3, 5, relu, _hard_se), (80, 2, 6, 3, relu, None), (96, 1, 6, 3, relu, _hard_se)]
    return _mbconv_net(16, plan, 160, num_classes, in_channels, stem_activation=relu, head_activation=relu)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2: split channels in two (stride 1) or branch twice (stride 2), concat, shuffle."""

    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.stride = stride
        branch = outputs // 2
        source = inputs if stride > 1 else branch
        self.right = nn.Sequential(conv_bn(source, branch, 1), conv_bn(branch, branch, 3, stride, groups=branch,
                                                                       activation=None), conv_bn(branch, branch, 1))
        self.left = (nn.Sequential(conv_bn(inputs, inputs, 3, stride, groups=inputs, activation=None),
                                   conv_bn(inputs, branch, 1)) if stride > 1 else None)

    def forward(self, x):
        if self.stride == 1:
            left, right = x.chunk(2, dim=1)
            out = torch.cat((left, self.right(right)), 1)
        else:
            out = torch.cat((self.left(x), self.right(x)), 1)
        return channel_shuffle(out, 2)


def shufflenet_v2(num_classes=10, in_channels=3):
    layers, channels = [conv_bn(in_channels, 24)], 24
    for width, repeats in ((48, 2), (96, 3), (192, 2)):
        for index in range(repeats):
            layers.append(ShuffleUnit(channels, width, 2 if index == 0 else 1))
            channels = width
    return nn.Sequential(*layers, conv_bn(channels, 256, 1), Classifier(256, num_classes))


class GhostModule(nn.Module):
    """Half the outputs from a 1x1 conv, half from a cheap depthwise conv on them; concat, keep `outputs`."""

    def __init__(self, inputs, outputs, relu=True):
        super().__init__()
        self.outputs = outputs
        primary = outputs // 2 + 1  # one or two channels too many: the slice after the concat is real
        activation = nn.ReLU if relu else None
        self.primary = conv_bn(inputs, primary, 1, activation=activation)
        self.cheap = conv_bn(primary, primary, 3, groups=primary, activation=activation)

    def forward(self, x):
        primary = self.primary(x)
        return torch.cat((primary, self.cheap(primary)), 1)[:, :self.outputs]


class GhostBottleneck(nn.Module):
    def __init__(self, inputs, hidden, outputs, stride, se):
        super().__init__()
        layers = [GhostModule(inputs, hidden)]
        if stride > 1:
            layers.append(conv_bn(hidden, hidden, 3, stride, groups=hidden, activation=None))
        if se:
            layers.append(SqueezeExcite(hidden, make_divisible(hidden / 4), gate=nn.Hardsigmoid))
        layers.append(GhostModule(hidden, outputs, relu=False))
        self.body = nn.Sequential(*layers)
        self.shortcut = (nn.Identity() if stride == 1 and inputs == outputs else nn.Sequential(
            conv_bn(inputs, inputs, 3, stride, groups=inputs, activation=None),
            conv_bn(inputs, outputs, 1, activation=None)))

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def ghostnet(num_classes=10, in_channels=3):
    plan = ((16, 16, 1, False), (48, 24, 2, False), (72, 24, 1, False), (72, 40, 2, True), (120, 40, 1, True),
            (240, 80, 2, False), (184, 80, 1, False))
    layers, channels = [conv_bn(in_channels, 16)], 16
    for hidden, width, stride, se in plan:
        layers.append(GhostBottleneck(channels, hidden, width, stride, se))
        channels = width
    return nn.Sequential(*layers, conv_bn(channels, 160, 1), Classifier(160, num_classes))
