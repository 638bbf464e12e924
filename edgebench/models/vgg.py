"""VGG with BatchNorm in the CIFAR form: the layer plan is data, a list of widths and 'M' for max-pool, built
by the variants' builder (so `vgg19` and the study's `vgg19-v1` are one network through one class)."""

from __future__ import annotations

from functools import partial
from typing import Sequence, Union

from torch import nn

from edgebench.models.registry import register_model
from edgebench.models.variants.spec import VggArch
from edgebench.models.variants.vgg import VariantVGG

Plan = Sequence[Union[int, str]]

PLANS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def vgg_arch(plan: Plan, hidden: int = 4096, dropout: float = 0.5):
    """VGG-BN in the CIFAR form as a variant architecture: 3x3 conv + BN + ReLU layers, the 512-hidden-hidden-
    classes head with dropout."""
    return VggArch(plan=tuple(plan), layer="conv", layer_options={}, se=False, head="mlp",
                   head_options={"hidden": hidden, "dropout": dropout})


def _vgg(plan: Plan, hidden: int = 4096, **config) -> nn.Module:
    config.setdefault("num_classes", 10)
    return VariantVGG(vgg_arch(plan, hidden), **config)


for _name, _plan in PLANS.items():
    register_model(_name, partial(_vgg, _plan), family="vgg", description=f"{_name.upper()} with BatchNorm, CIFAR form")

register_model(
    "test_vgg", partial(_vgg, [8, "M", 16, "M", 16, "M"], hidden=32), family="test",
    description="tiny VGG-BN for tests",
)
