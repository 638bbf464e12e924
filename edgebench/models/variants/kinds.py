"""What a variant file may name, next to the spec that checks it: block, stem, layer and head kinds, the
options each takes and the techniques a given choice uses. The builders map the same names to modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from edgebench.models.blocks.bottleneck import SPATIAL_CONVS
from edgebench.models.blocks.fire import EXPAND_1X1, EXPAND_3X3, SQUEEZES


@dataclass(frozen=True, kw_only=True)
class KindSpec:
    """A block (ResNet) or layer (VGG) kind: the options it takes (option -> valid values, None: any) and the
    techniques a given set of options uses."""

    options: Dict[str, Optional[Tuple[Any, ...]]]
    techniques: Callable[[Dict[str, Any]], Tuple[str, ...]]


_CONV_TECHNIQUE = {"standard": (), "factorized": ("nx1-1xn",), "depthwise": ("depthwise-separable",)}


def _ghost_techniques(options: Dict[str, Any]) -> Tuple[str, ...]:
    return (("ghost",) + (("grouped-pointwise-shuffle",) if options.get("groups", 1) > 1 else ())
            + (("squeeze-excitation",) if options.get("se") else ()))


BLOCK_KINDS: Dict[str, KindSpec] = {
    "bottleneck": KindSpec(options={"conv": SPATIAL_CONVS},
                           techniques=lambda o: _CONV_TECHNIQUE[o.get("conv", "standard")]),
    "residual-fire": KindSpec(options={}, techniques=lambda o: ("fire",)),
    "shuffle-bottleneck": KindSpec(options={"groups": None},
                                   techniques=lambda o: ("grouped-pointwise-shuffle", "depthwise-separable")),
    "inverted-residual": KindSpec(options={}, techniques=lambda o: ("inverted-residual",)),
    "ghost": KindSpec(options={"groups": None, "se": (True, False), "depthwise": ("stride", "projection")},
                      techniques=_ghost_techniques),
    "dice": KindSpec(options={"study_parity": (True, False)}, techniques=lambda o: ("dice",)),
}

STEM_TECHNIQUES: Dict[str, Tuple[str, ...]] = {
    "conv3x3": (), "factorized": ("nx1-1xn",), "depthwise-separable": ("depthwise-separable",),
}


def _fire_techniques(options: Dict[str, Any]) -> Tuple[str, ...]:
    squeeze, ex1, ex3 = (options.get("squeeze", "conv"), options.get("expand1x1", "conv"),
                         options.get("expand3x3", "conv"))
    used = ["fire"]
    if ex3 == "grouped":
        used.append("grouped-convolution")
    if squeeze == "ghost" or ex3.startswith("ghost"):
        used.append("ghost")
    if squeeze.startswith("grouped") or ex1 == "grouped" or ex3 == "ghost-grouped" or options.get("shuffle"):
        used.append("grouped-pointwise-shuffle")
    if ex3 == "dice":
        used.append("dice")
    return tuple(used)


LAYER_KINDS: Dict[str, KindSpec] = {
    "conv": KindSpec(options={}, techniques=lambda o: ()),
    "factorized": KindSpec(options={}, techniques=lambda o: ("nx1-1xn",)),
    "depthwise-separable": KindSpec(options={}, techniques=lambda o: ("depthwise-separable",)),
    "fire": KindSpec(options={"squeeze": SQUEEZES, "expand1x1": EXPAND_1X1, "expand3x3": EXPAND_3X3,
                              "squeeze_ratio": None, "shuffle": None},
                     techniques=_fire_techniques),
}

# VGG head kind -> its options, and the technique it stands for
HEAD_OPTIONS: Dict[str, Tuple[str, ...]] = {"mlp": ("hidden", "dropout"), "linear": ("dropout",), "conv": ("norm",)}
HEAD_TECHNIQUES: Dict[str, Tuple[str, ...]] = {"mlp": (), "linear": ("gap-head",), "conv": ("no-fc",)}
