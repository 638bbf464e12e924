"""CIFAR ResNets: option A (strided slicing + zero channel padding) and option B (1x1 projection)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from tests.corpus.layers import Classifier, conv_bn


class OptionABlock(nn.Module):
    """He et al. 2016, CIFAR form: the shortcut subsamples with x[:, :, ::2, ::2] and zero-pads channels."""

    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(inputs, outputs, 3, stride), conv_bn(outputs, outputs, 3, activation=None))
        self.pad = (outputs - inputs) // 2
        self.project = stride != 1 or inputs != outputs

    def forward(self, x):
        shortcut = x
        if self.project:
            shortcut = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(self.body(x) + shortcut)


class BasicBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(inputs, outputs, 3, stride), conv_bn(outputs, outputs, 3, activation=None))
        self.shortcut = (conv_bn(inputs, outputs, 1, stride, activation=None)
                         if stride != 1 or inputs != outputs else nn.Identity())

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        middle = outputs // 4
        self.body = nn.Sequential(conv_bn(inputs, middle, 1), conv_bn(middle, middle, 3, stride),
                                  conv_bn(middle, outputs, 1, activation=None))
        self.shortcut = (conv_bn(inputs, outputs, 1, stride, activation=None)
                         if stride != 1 or inputs != outputs else nn.Identity())

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, block, depths, widths, stem: int, num_classes: int, in_channels: int):
        super().__init__()
        layers = [conv_bn(in_channels, stem)]
        channels = stem
        for stage, (depth, width) in enumerate(zip(depths, widths)):
            for index in range(depth):
                layers.append(block(channels, width, 2 if index == 0 and stage > 0 else 1))
                channels = width
        self.features = nn.Sequential(*layers)
        self.head = Classifier(channels, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


def resnet20_a(num_classes=10, in_channels=3):
    return ResNet(OptionABlock, (3, 3, 3), (16, 32, 64), 16, num_classes, in_channels)


def resnet56_a(num_classes=10, in_channels=3):
    return ResNet(OptionABlock, (9, 9, 9), (16, 32, 64), 16, num_classes, in_channels)


def resnet18_b(num_classes=10, in_channels=3):
    return ResNet(BasicBlock, (2, 2, 2, 2), (16, 32, 64, 128), 16, num_classes, in_channels)


def resnet50_b(num_classes=10, in_channels=3):
    return ResNet(Bottleneck, (3, 4, 6, 3), (32, 64, 128, 256), 16, num_classes, in_channels)
