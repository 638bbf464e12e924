"""Builds a VGG-family variant from its spec: a layer plan (widths and 'M'), one layer kind, [SE], a head."""

from __future__ import annotations

from typing import Any, Callable, Dict

from torch import nn

from edgebench.models import blocks
from edgebench.models.variants.spec import VggArch


def _bn_relu(conv: nn.Module, width: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True))


# layer kind (checked against `kinds.LAYER_KINDS` by the spec) -> how to build one layer
LAYERS: Dict[str, Callable[..., nn.Module]] = {
    "conv": lambda i, o, size: blocks.conv_bn_act(i, o, 3, bias=True, act="relu"),
    "factorized": lambda i, o, size: _bn_relu(blocks.FactorizedConv(i, o), o),
    "depthwise-separable": lambda i, o, size: _bn_relu(blocks.DepthwiseSeparable(i, o), o),
    "fire": lambda i, o, size, **options: blocks.Fire(i, o, size=size, **options),
}


def _head(kind: str, options: Dict[str, Any], channels: int, num_classes: int) -> nn.Sequential:
    if kind == "mlp":
        hidden, dropout = int(options.get("hidden", 4096)), float(options.get("dropout", 0.5))
        return nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
    if kind == "linear":
        # The study drops out the logits themselves (Linear, then Dropout); kept for a faithful recipe.
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes),
                             nn.Dropout(float(options.get("dropout", 0.5))))
    norm = bool(options.get("norm", True))
    return nn.Sequential(
        nn.Conv2d(channels, num_classes, 1), *([nn.BatchNorm2d(num_classes)] if norm else []), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


class VariantVGG(nn.Module):
    def __init__(self, arch: VggArch, *, num_classes: int = 100, in_channels: int = 3, input_size: int = 32):
        super().__init__()
        make = LAYERS[arch.layer]
        layers, channels, size = [], in_channels, input_size
        for item in arch.plan:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
                size //= 2
                continue
            layers.append(make(channels, int(item), size, **arch.layer_options))
            if arch.se:
                layers.append(blocks.SqueezeExcite(int(item)))
            channels = int(item)
        self.features = nn.Sequential(*layers)
        self.head = _head(arch.head, arch.head_options, channels, num_classes)

    def forward(self, x):
        return self.head(self.features(x))

