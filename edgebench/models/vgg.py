"""VGG with BatchNorm in the CIFAR form: the layer plan is data, a list of widths and 'M' for max-pool."""

from __future__ import annotations

from functools import partial
from typing import Sequence, Union

from torch import nn

from edgebench.models.registry import register_model

Plan = Sequence[Union[int, str]]

PLANS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def make_features(plan: Plan, in_channels: int) -> nn.Sequential:
    layers = []
    channels = in_channels
    for item in plan:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.BatchNorm2d(int(item)), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG-BN; the head is 512 -> hidden -> hidden -> classes with dropout, as in the study."""

    def __init__(self, plan: Plan, *, num_classes: int = 10, in_channels: int = 3, hidden: int = 4096,
                 dropout: float = 0.5):
        super().__init__()
        self.features = make_features(plan, in_channels)
        last = [item for item in plan if item != "M"][-1]
        # At 32x32 five max-pools leave 1x1; the adaptive pool keeps other input sizes working.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(int(last), hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


for _name, _plan in PLANS.items():
    register_model(_name, partial(VGG, _plan), family="vgg", description=f"{_name.upper()} with BatchNorm, CIFAR form")

register_model(
    "test_vgg", partial(VGG, [8, "M", 16, "M", 16, "M"], hidden=32), family="test",
    description="tiny VGG-BN for tests",
)
