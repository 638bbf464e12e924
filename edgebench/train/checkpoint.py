"""Checkpoints that carry everything export needs: model name and config, preprocessing, classes."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from edgebench.data.preprocess import Preprocess
from edgebench.errors import EdgebenchError
from edgebench.fileio import write_bytes
from edgebench.models import create_model
from edgebench.models.structure import resize_layers

CHECKPOINT_FORMAT = "edgebench.checkpoint"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    model_name: str
    model_config: Dict[str, Any]  # create_model keyword arguments: num_classes, in_channels, ...
    preprocess: Preprocess
    class_names: Tuple[str, ...]
    state_dict: Dict[str, Any]
    accuracy: Optional[float] = None
    dataset: Dict[str, Any] = field(default_factory=dict)
    train: Dict[str, Any] = field(default_factory=dict)
    history: Tuple[Dict[str, float], ...] = ()
    extra: Dict[str, Any] = field(default_factory=dict)

    def build_model(self):
        model = create_model(self.model_name, **self.model_config)
        if "layer_shapes" in self.extra:  # channel-pruned: the layers are smaller than the zoo's
            resize_layers(model, self.extra["layer_shapes"])
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise EdgebenchError(f"checkpoint weights do not fit model '{self.model_name}': {first}") from None
        return model.eval()


def save_checkpoint(path, checkpoint: Checkpoint) -> None:
    import torch  # torch: heavy, loaded only when this runs

    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": {"name": checkpoint.model_name, "config": dict(checkpoint.model_config)},
        "preprocess": checkpoint.preprocess.as_dict(),
        "class_names": list(checkpoint.class_names),
        "accuracy": checkpoint.accuracy,
        "dataset": dict(checkpoint.dataset),
        "train": dict(checkpoint.train),
        "history": [dict(h) for h in checkpoint.history],
        "extra": dict(checkpoint.extra),
        "state_dict": checkpoint.state_dict,
    }
    buffer = io.BytesIO()  # serialised first: a full disk is then an OSError of the write, not torch's
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def load_checkpoint(path) -> Checkpoint:
    import torch  # torch: heavy, loaded only when this runs

    path = Path(path)
    if path.is_dir():
        raise EdgebenchError(f"checkpoint {path} is a folder: give the .pt file `edgebench train` wrote")
    if not path.is_file():
        raise EdgebenchError(f"checkpoint {path} does not exist" if not path.exists() else
                             f"checkpoint {path} is not a regular file: give the .pt file `edgebench train` wrote")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign or damaged file; all mean the same here
        first = (str(exc).strip().splitlines() or ["unreadable"])[0]
        raise EdgebenchError(f"checkpoint {path} is corrupt or not a torch file: {first[:200]}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise EdgebenchError(f"checkpoint {path} is not an edgebench checkpoint (train one with `edgebench train`)")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise EdgebenchError(f"checkpoint {path} has version {payload.get('version')}; this edgebench reads "
                             f"version {CHECKPOINT_VERSION}")
    try:
        checkpoint = Checkpoint(
            model_name=str(payload["model"]["name"]),
            model_config=dict(payload["model"]["config"]),
            preprocess=Preprocess.from_dict(payload["preprocess"]),
            class_names=tuple(payload["class_names"]),
            state_dict=dict(payload["state_dict"]),
            accuracy=payload.get("accuracy"),
            dataset=dict(payload.get("dataset", {})),
            train=dict(payload.get("train", {})),
            history=tuple(payload.get("history", ())),
            extra=dict(payload.get("extra", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EdgebenchError(f"checkpoint {path} is missing field {exc}") from None
    _check_weights(path, checkpoint.state_dict)
    return checkpoint


def _check_weights(path: Path, state_dict: Dict[str, Any]) -> None:
    import torch  # torch: heavy, loaded only when this runs

    for name, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise EdgebenchError(f"checkpoint {path}: weight '{name}' is a {type(value).__name__}, not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise EdgebenchError(f"checkpoint {path}: weight '{name}' holds NaN or infinite values; retrain the "
                                 "model (a lower --lr)")
