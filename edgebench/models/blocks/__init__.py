"""The study's architecture optimization techniques as reusable torch modules.

Each file holds one technique; the variant builders in `edgebench.models.variants` assemble them from data.
"""

from edgebench.models.blocks.bottleneck import Bottleneck, ShuffleBottleneck
from edgebench.models.blocks.dice import DiCE, DiceBottleneck, StridedDiCE
from edgebench.models.blocks.fire import Fire, ResidualFire
from edgebench.models.blocks.ghost import GhostBottleneck, GhostModule
from edgebench.models.blocks.inverted import InvertedResidual
from edgebench.models.blocks.layers import (ChannelShuffle, DepthwiseSeparable, FactorizedConv, GroupedPointwise,
                                            conv_bn_act, projection)
from edgebench.models.blocks.se import SqueezeExcite

__all__ = [
    "Bottleneck", "ChannelShuffle", "DepthwiseSeparable", "DiCE", "DiceBottleneck", "FactorizedConv", "Fire",
    "GhostBottleneck", "GhostModule", "GroupedPointwise", "InvertedResidual", "ResidualFire", "ShuffleBottleneck",
    "SqueezeExcite", "StridedDiCE", "conv_bn_act", "projection",
]
