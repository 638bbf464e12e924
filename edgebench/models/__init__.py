"""The model zoo: `create_model(name, num_classes=..., in_channels=...)`."""

from edgebench.models.registry import MODELS, ModelEntry, create_model, model_entry, model_names, register_model

_LOADED = False


def _load_zoo() -> None:
    """Import the architecture modules (they need torch) the first time a model is asked for."""
    global _LOADED
    if not _LOADED:
        from edgebench.models import resnet, vgg  # noqa: F401  (registration side effects)

        _LOADED = True


__all__ = ["MODELS", "ModelEntry", "create_model", "model_entry", "model_names", "register_model"]
