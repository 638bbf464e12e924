"""Training with the study's recipe, and checkpoints that carry their provenance."""

from edgebench.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from edgebench.train.pipeline import train_model as _train_model
from edgebench.train.recipe import TrainSpec

__all__ = ["Checkpoint", "TrainSpec", "load_checkpoint", "save_checkpoint", "train_model"]


def train_model(*args, **kwargs):
    return _train_model(*args, **kwargs)
