"""The conversion corpus: architectures written here (no downloads), random weights with randomised
BatchNorm/LayerNorm statistics so that folding is exercised, 32x32 inputs, 10 classes.

`CORPUS` maps a name to a factory `(num_classes=10, in_channels=3) -> nn.Module`; `build(name)` returns the
module in eval mode with its random state set.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Dict

from tests.corpus import mobile, modern, others, resnets

INPUT_SHAPE = (1, 3, 32, 32)


def _zoo(name: str, num_classes: int = 10, in_channels: int = 3):
    from edgebench.models import create_model

    return create_model(name, num_classes=num_classes, in_channels=in_channels)


CORPUS: Dict[str, Callable] = {
    "resnet20-a": resnets.resnet20_a,
    "resnet56-a": resnets.resnet56_a,
    "resnet18-b": resnets.resnet18_b,
    "resnet50-b": resnets.resnet50_b,
    "mobilenet-v1": mobile.mobilenet_v1,
    "mobilenet-v2": mobile.mobilenet_v2,
    "mobilenet-v3-small": mobile.mobilenet_v3_small,
    "efficientnet-b0": mobile.efficientnet_b0,
    "mnasnet": mobile.mnasnet,
    "shufflenet-v2": mobile.shufflenet_v2,
    "ghostnet": mobile.ghostnet,
    "squeezenet": others.squeezenet,
    "densenet": others.densenet,
    "regnet": others.regnet,
    "convnext": others.convnext,
    "vit-tiny": others.vit_tiny,
    "convnext-gated": modern.convnext_gated,
    # zoo and study variants, as `edgebench.models.create_model` builds them
    "zoo-resnet20": partial(_zoo, "resnet20"),
    "zoo-resnet101-v13": partial(_zoo, "resnet101-v13"),
    "zoo-resnet101-v12": partial(_zoo, "resnet101-v12"),
    "zoo-resnet101-v10": partial(_zoo, "resnet101-v10"),
    "zoo-vgg19-v11": partial(_zoo, "vgg19-v11"),
    "zoo-vgg19-v8": partial(_zoo, "vgg19-v8"),
    "zoo-vgg19-v13": partial(_zoo, "vgg19-v13"),
}


def randomise_statistics(module, seed: int = 0):
    """Give every normalisation layer non-trivial running statistics and affine parameters."""
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.running_mean is not None:
                shape = layer.running_mean.shape
                layer.running_mean.copy_(torch.randn(shape, generator=generator) * 0.3)
                layer.running_var.copy_(torch.rand(shape, generator=generator) * 1.5 + 0.5)
            if isinstance(layer, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)) and layer.weight is not None:
                layer.weight.copy_(torch.rand(layer.weight.shape, generator=generator) + 0.5)
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * 0.2)
    return module


def build(name: str, seed: int = 0):
    import torch

    if name not in CORPUS:
        raise KeyError(f"unknown corpus model {name!r}; known: {', '.join(CORPUS)}")
    torch.manual_seed(seed)
    return randomise_statistics(CORPUS[name](num_classes=10, in_channels=3), seed).eval()
