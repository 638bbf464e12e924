"""Squeeze-and-excitation: global average pool, FC -> ReLU -> FC -> sigmoid, channel-wise rescale."""

from __future__ import annotations

from torch import nn


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: float = 0.25):
        super().__init__()
        hidden = int(channels * reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False), nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False), nn.Sigmoid(),
        )

    def forward(self, x):
        weights = self.fc(self.pool(x).flatten(1))
        return x * weights[:, :, None, None]
