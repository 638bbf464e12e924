"""What an ablation run trains: the base architecture, its chosen variants, the recipe, the baseline."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from edgebench.errors import EdgebenchError, UnknownNameError
from edgebench.models import model_entry, model_names
from edgebench.train.recipe import TrainSpec

ARCHES = ("resnet101", "vgg19")


@dataclass(frozen=True, kw_only=True)
class AblationSpec:
    arch: str
    variants: Tuple[str, ...]  # model names, in run order
    train: TrainSpec
    data: Optional[str] = None
    baseline: Optional[str] = None  # default: variant 1 when it is in the run, else the first variant
    max_drop: Optional[float] = None
    export: bool = False  # also export each variant to fp32 + int8 ONNX and tabulate the int8 file

    def __post_init__(self):
        if not self.variants:
            raise EdgebenchError("no variants to train")
        if self.baseline is not None and self.baseline not in self.variants:
            raise EdgebenchError(f"baseline '{self.baseline}' is not among the variants of this run: "
                                 f"choose from {', '.join(self.variants)}")
        if self.max_drop is not None and not (math.isfinite(self.max_drop) and self.max_drop >= 0):
            raise EdgebenchError(f"max drop {self.max_drop} is out of range: give a value >= 0 (pp)")

    @property
    def baseline_name(self) -> str:
        if self.baseline:
            return self.baseline
        first = [name for name in self.variants if _index(name) == 1]
        return first[0] if first else self.variants[0]


def _index(name: str) -> Optional[int]:
    variant = model_entry(name).variant
    return variant.index if variant is not None else None


def arch_variants(arch: str) -> List[str]:
    """Every registered variant of `arch` (the study's and the user's), the study's in index order first."""
    if arch not in ARCHES:
        raise EdgebenchError(f"unknown architecture '{arch}': choose from {', '.join(ARCHES)}")
    names = [n for n in model_names() if model_entry(n).variant is not None and model_entry(n).family == arch]
    return sorted(names, key=lambda n: (_index(n) is None, _index(n) or 0, n))


def select_variants(arch: str, selection: Optional[str]) -> Tuple[str, ...]:
    """'1,4,6-14' (indices), names, or both; none: every variant of the architecture."""
    available = arch_variants(arch)
    if not selection:
        return tuple(available)
    by_index = {_index(name): name for name in available if _index(name) is not None}
    chosen: List[str] = []
    for token in (t.strip() for t in selection.split(",")):
        if not token:
            continue
        span = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if span:
            low, high = int(span.group(1)), int(span.group(2) or span.group(1))
            if low > high:
                raise EdgebenchError(f"variant range '{token}' is empty: write it low-high")
            missing = [i for i in range(low, high + 1) if i not in by_index]
            if missing:
                raise EdgebenchError(f"{arch} has no variant {missing[0]}: valid indices are "
                                     f"{min(by_index)}-{max(by_index)}")
            names = [by_index[i] for i in range(low, high + 1)]
        elif token in available:
            names = [token]
        else:
            raise UnknownNameError(f"{arch} variant", token, available)
        chosen += [n for n in names if n not in chosen]
    return tuple(chosen)
