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
    """The torch module of a variant; widths that cannot work together (channels not divisible by the
    groups, say) fail as one error naming the file."""
    from edgebench.errors import EdgebenchError
    from edgebench.models.variants.resnet import VariantResNet
    from edgebench.models.variants.vgg import VariantVGG

    network = VariantResNet if isinstance(spec.arch, ResNetArch) else VariantVGG
    try:
        return network(spec.arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    except ValueError as error:
        raise EdgebenchError(f"{spec.source}: cannot build '{spec.name}': {error}") from None
