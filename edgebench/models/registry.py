"""The model registry and its one factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

from edgebench.registry import Registry


@dataclass(frozen=True, kw_only=True)
class ModelEntry:
    """A named architecture: how to build it and what it is."""

    name: str
    build: Callable[..., Any]
    family: str
    description: str
    input_size: int = 32
    techniques: Tuple[str, ...] = ()
    defaults: Dict[str, Any] = field(default_factory=dict)
    variant: Optional[Any] = None  # the VariantSpec of a model defined in a variant file


MODELS: "Registry[ModelEntry]" = Registry("model")


def register_model(name: str, build: Callable[..., Any], *, family: str, description: str,
                   input_size: int = 32, techniques: Tuple[str, ...] = (), variant: Optional[Any] = None,
                   **defaults: Any) -> ModelEntry:
    return MODELS.add(name, ModelEntry(name=name, build=build, family=family, description=description,
                                       input_size=input_size, techniques=techniques, defaults=defaults,
                                       variant=variant))
