"""Building blocks shared by the corpus architectures."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(inputs: int, outputs: int, kernel: int = 3, stride: int = 1, groups: int = 1,
            activation: type = nn.ReLU) -> nn.Sequential:
    layers = [nn.Conv2d(inputs, outputs, kernel, stride, kernel // 2, groups=groups, bias=False),
              nn.BatchNorm2d(outputs)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int, gate: type = nn.Sigmoid, activation: type = nn.ReLU):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.activation = activation()
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = gate()

    def forward(self, x):
        scale = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.activation(self.reduce(scale))))


class Classifier(nn.Module):
    """Global average pool + linear head."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def make_divisible(value: float, divisor: int = 8) -> int:
    return max(divisor, int(value + divisor / 2) // divisor * divisor)
