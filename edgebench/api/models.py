"""`edgebench.models()`: the zoo and the study's variants with their techniques, parameters and FLOPs."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Tuple

from edgebench.api import rules
from edgebench.errors import BadInputError
from edgebench.models import create_model, model_entry, model_names
from edgebench.models.stats import model_stats


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    name: str
    family: str
    input: str
    classes: int
    params: int
    macs: int
    flops: int
    techniques: Tuple[str, ...]
    description: str
    source: str

    def to_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "techniques": list(self.techniques)}


def _order(name: str):
    """Natural order: resnet101-v2 before resnet101-v10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def models(*, family: Optional[str] = None, classes: Optional[int] = None) -> List[ModelInfo]:
    """Every zoo model (or one `family`), counted for `classes` classes (default: the study's count for its
    variants, else 10). Builds each model once to count it (torch)."""
    if classes is not None:
        rules.BoundedInt(2, what="a whole number >= 2").check(classes, "classes")
    names = sorted(model_names(), key=_order)
    families = sorted({model_entry(name).family for name in names})
    if family and family not in families:
        raise BadInputError(f"unknown family '{family}': valid families are {', '.join(families)}")
    found = []
    for name in names:
        entry = model_entry(name)
        if family and entry.family != family:
            continue
        count = classes or (entry.variant.study_classes if entry.variant is not None else 10)
        stats = model_stats(create_model(name, num_classes=count), (1, 3, entry.input_size, entry.input_size))
        found.append(ModelInfo(name=name, family=entry.family, input=f"{entry.input_size}x{entry.input_size}x3",
                               classes=count, params=stats.params, macs=stats.macs, flops=stats.flops,
                               techniques=tuple(entry.techniques), description=entry.description,
                               source=entry.variant.source if entry.variant is not None else "built-in"))
    return found
