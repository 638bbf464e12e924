"""The model zoo: `create_model(name, num_classes=..., in_channels=...)`."""

from edgebench.models.registry import MODELS, ModelEntry, create_model, model_entry, model_names, register_model

_LOADED = {"builtin": False, "variants": False}


def _load_zoo() -> None:
    """Import the architecture modules (they need torch) and read the variant files, the first time a model
    is asked for. A bad variant file fails every call until it is fixed; the built-ins register once."""
    if not _LOADED["builtin"]:
        from edgebench.models import resnet, vgg  # noqa: F401  (registration side effects)

        _LOADED["builtin"] = True
    if not _LOADED["variants"]:
        from edgebench.models.variants.loader import register_variants

        register_variants()
        _LOADED["variants"] = True


__all__ = ["MODELS", "ModelEntry", "create_model", "model_entry", "model_names", "register_model"]
