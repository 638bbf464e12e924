"""Fire modules, dense concatenation, grouped convolutions, a ConvNeXt-style net and a small ViT."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tests.corpus.layers import Classifier, SqueezeExcite, conv_bn


class Fire(nn.Module):
    def __init__(self, inputs, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(inputs, squeeze, 1), nn.ReLU())
        self.expand1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU())
        self.expand3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU())

    def forward(self, x):
        x = self.squeeze(x)
        return torch.cat((self.expand1(x), self.expand3(x)), 1)


def squeezenet(num_classes=10, in_channels=3):
    """SqueezeNet 1.1 layout (max-pool stages, conv classifier)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(32, 8, 16), Fire(32, 8, 16), nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(32, 16, 32), Fire(64, 16, 32), nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(64, 24, 48), Fire(96, 32, 64),
        nn.Dropout(0.5), nn.Conv2d(128, num_classes, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


class DenseLayer(nn.Module):
    def __init__(self, inputs, growth):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(inputs), nn.ReLU(), nn.Conv2d(inputs, 4 * growth, 1, bias=False),
                                  nn.BatchNorm2d(4 * growth), nn.ReLU(),
                                  nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False))

    def forward(self, x):
        return torch.cat((x, self.body(x)), 1)


def densenet(num_classes=10, in_channels=3, growth=8, blocks=(4, 4, 4)):
    layers, channels = [nn.Conv2d(in_channels, 2 * growth, 3, padding=1, bias=False)], 2 * growth
    for stage, depth in enumerate(blocks):
        for _ in range(depth):
            layers.append(DenseLayer(channels, growth))
            channels += growth
        if stage < len(blocks) - 1:
            layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels // 2, 1, bias=False),
                       nn.AvgPool2d(2)]
            channels //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(channels), nn.ReLU(), Classifier(channels, num_classes))


class RegNetBlock(nn.Module):
    """RegNetY-style: 1x1 -> 3x3 group conv (group width 8) -> SE -> 1x1, projection when shapes change."""

    def __init__(self, inputs, outputs, stride, group_width=8):
        super().__init__()
        self.body = nn.Sequential(conv_bn(inputs, outputs, 1),
                                  conv_bn(outputs, outputs, 3, stride, groups=outputs // group_width),
                                  SqueezeExcite(outputs, max(4, inputs // 4)),
                                  conv_bn(outputs, outputs, 1, activation=None))
        self.shortcut = (nn.Identity() if stride == 1 and inputs == outputs
                         else conv_bn(inputs, outputs, 1, stride, activation=None))

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x))


def regnet(num_classes=10, in_channels=3):
    layers, channels = [conv_bn(in_channels, 16)], 16
    for width, depth in ((24, 1), (48, 2), (96, 2)):
        for index in range(depth):
            layers.append(RegNetBlock(channels, width, 2 if index == 0 else 1))
            channels = width
    return nn.Sequential(*layers, Classifier(channels, num_classes))


class ChannelsLastLayerNorm(nn.Module):
    """LayerNorm over channels of an NCHW tensor, the ConvNeXt way: permute, normalise, permute back."""

    def __init__(self, channels):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=1e-6)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels))
        self.gamma = nn.Parameter(torch.full((channels,), 0.5))

    def forward(self, x):
        y = self.depthwise(x).permute(0, 2, 3, 1)
        y = self.gamma * self.mlp(self.norm(y))
        return x + y.permute(0, 3, 1, 2)


def convnext(num_classes=10, in_channels=3):
    widths, depths = (16, 32, 64), (2, 2, 2)
    layers = [nn.Conv2d(in_channels, widths[0], 2, stride=2), ChannelsLastLayerNorm(widths[0])]
    for stage, (width, depth) in enumerate(zip(widths, depths)):
        if stage > 0:
            layers += [ChannelsLastLayerNorm(widths[stage - 1]), nn.Conv2d(widths[stage - 1], width, 2, stride=2)]
        layers += [ConvNeXtBlock(width) for _ in range(depth)]
    return nn.Sequential(*layers, Classifier(widths[-1], num_classes))


class VisionTransformer(nn.Module):
    """Patch embedding (4x4 conv), class token, learned positions, pre-norm encoder, class-token head."""

    def __init__(self, num_classes=10, in_channels=3, dim=48, depth=3, heads=3, patch=4, size=32):
        super().__init__()
        self.embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.positions = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, dim) * 0.1)
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), 1) + self.positions
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.norm(tokens)[:, 0])


class EncoderBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attention = (q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5).softmax(-1)
        x = x + self.proj((attention @ v).transpose(1, 2).reshape(n, t, d))
        return x + self.mlp(self.norm2(x))


def vit_tiny(num_classes=10, in_channels=3):
    return VisionTransformer(num_classes, in_channels)
