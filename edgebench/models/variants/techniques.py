"""The technique registry: the names a variant file may list, and what each one is."""

from __future__ import annotations

from dataclasses import dataclass

from edgebench.registry import Registry


@dataclass(frozen=True, kw_only=True)
class Technique:
    name: str
    description: str
    structural: bool = True  # False: a width or layout choice, not a block the builder can see


TECHNIQUES: "Registry[Technique]" = Registry("technique")

for _name, _description, _structural in [
    ("fire", "fire module: 1x1 squeeze, parallel 1x1 and 3x3 expands, concatenated", True),
    ("nx1-1xn", "3x3 convolutions factorised into 3x1 then 1x3", True),
    ("depthwise-separable", "depthwise 3x3 (+ pointwise 1x1) instead of a full 3x3 convolution", True),
    ("grouped-convolution", "grouped 3x3 convolution (one group per input channel)", True),
    ("grouped-pointwise-shuffle", "grouped 1x1 convolutions followed by a channel shuffle (ShuffleNet)", True),
    ("inverted-residual", "inverted residual bottleneck: expand 1x1, depthwise 3x3, linear 1x1 (MobileNetV2)", True),
    ("ghost", "ghost modules / ghost bottlenecks: half the maps from a cheap depthwise op (GhostNet)", True),
    ("squeeze-excitation", "squeeze-and-excitation channel attention", True),
    ("gap-head", "global average pooling + one linear layer instead of the 4096-wide FC stack", True),
    ("no-fc", "a 1x1 convolution to the classes + global average pooling, no fully connected layer", True),
    ("dice", "DiCE units: dimension-wise convolutions along channels, height and width (DiCENet)", True),
    ("narrow", "fewer channels than the base architecture (stem or stages)", False),
    ("compact-tail", "the layers before global average pooling slimmed down", False),
]:
    TECHNIQUES.add(_name, Technique(name=_name, description=_description, structural=_structural))
