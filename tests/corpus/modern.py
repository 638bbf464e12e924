"""A ConvNeXt-style net as users bring them today: depthwise 3x3 and dilated 7x7 convolutions (`padding="same"`,
which torch's TorchScript exporter writes as auto_pad=SAME_UPPER), a channel LayerNorm done with transposes, and a
`tanh(exp(a)) * a * b` gated pointwise expansion; about 20 k parameters at the default widths."""

from __future__ import annotations

import torch
from torch import nn

from tests.corpus.layers import Classifier
from tests.corpus.others import ChannelsLastLayerNorm


class GatedBlock(nn.Module):
    """Depthwise 3x3 -> dilated depthwise 7x7 -> channel LayerNorm -> 1x1 to 2 x expand x C, split a, b ->
    tanh(exp(a)) * a * b -> 1x1 back to C, residual."""

    def __init__(self, channels: int, expand: int = 2, dilation: int = 2):
        super().__init__()
        self.local = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.wide = nn.Conv2d(channels, channels, 7, padding="same", dilation=dilation, groups=channels)
        self.norm = ChannelsLastLayerNorm(channels)
        self.expand = nn.Conv2d(channels, 2 * expand * channels, 1)
        self.project = nn.Conv2d(expand * channels, channels, 1)

    def forward(self, x):
        a, b = self.expand(self.norm(self.wide(self.local(x)))).chunk(2, dim=1)
        return x + self.project(torch.tanh(torch.exp(a)) * a * b)


def convnext_gated(num_classes=10, in_channels=3, widths=(16, 32, 48)):
    layers = [nn.Conv2d(in_channels, widths[0], 2, stride=2), ChannelsLastLayerNorm(widths[0])]
    for stage, width in enumerate(widths):
        if stage > 0:
            layers += [ChannelsLastLayerNorm(widths[stage - 1]), nn.Conv2d(widths[stage - 1], width, 2, stride=2)]
        layers.append(GatedBlock(width))
    return nn.Sequential(*layers, Classifier(widths[-1], num_classes))
