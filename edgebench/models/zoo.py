"""Asking the zoo for a model: the architecture modules and the variant files are read the first time."""

from __future__ import annotations

from typing import Any

from edgebench.models.registry import MODELS, ModelEntry

_LOADED = {"builtin": False, "variants": False}


def load_zoo() -> None:
    """Import the architecture modules (they need torch) and read the variant files, the first time a model
    is asked for. A bad variant file fails every call until it is fixed; the built-ins register once."""
    if not _LOADED["builtin"]:
        from edgebench.models import resnet, vgg  # noqa: F401  (registration; needs torch: loaded only when a model is asked for)

        _LOADED["builtin"] = True
    if not _LOADED["variants"]:
        # needs torch: loaded only when a model is asked for
        from edgebench.models.variants.loader import register_variants

        register_variants()
        _LOADED["variants"] = True


def create_model(name: str, *, num_classes: int = 10, in_channels: int = 3, **overrides: Any):
    """Build a registered model with freshly initialised weights."""
    load_zoo()
    entry = MODELS.get(name)
    kwargs = {**entry.defaults, **overrides}
    return entry.build(num_classes=num_classes, in_channels=in_channels, **kwargs)


def model_names() -> list:
    load_zoo()
    return MODELS.names()


def model_entry(name: str) -> ModelEntry:
    load_zoo()
    return MODELS.get(name)
