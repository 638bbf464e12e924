"""From a parsed spec to a torch module, and the techniques its blocks use."""

from __future__ import annotations

from typing import Tuple, Union

from edgebench.models.variants.spec import ResNetArch, VariantSpec, VggArch


def used_techniques(arch: Union[ResNetArch, VggArch]) -> Tuple[str, ...]:
    if isinstance(arch, ResNetArch):
        from edgebench.models.variants import resnet

        return resnet.used_techniques(arch)
    from edgebench.models.variants import vgg

    return vgg.used_techniques(arch)


def build_variant(spec: VariantSpec, *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32):
    if isinstance(spec.arch, ResNetArch):
        from edgebench.models.variants.resnet import VariantResNet

        return VariantResNet(spec.arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    from edgebench.models.variants.vgg import VariantVGG

    return VariantVGG(spec.arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
