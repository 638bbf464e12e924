"""The model zoo: `create_model(name, num_classes=..., in_channels=...)`."""

from edgebench.models.registry import MODELS, ModelEntry, register_model
from edgebench.models.zoo import create_model, model_entry, model_names

__all__ = ["MODELS", "ModelEntry", "create_model", "model_entry", "model_names", "register_model"]
