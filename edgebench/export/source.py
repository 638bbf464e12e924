"""Where a model comes from: the zoo (+ checkpoint), a user's ONNX file, or a `package.module:function`."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from edgebench.data.preprocess import Preprocess
from edgebench.errors import EdgebenchError
from edgebench.export.onnx_input import inspect_input, load_model
from edgebench.fileio import sha256_file
from edgebench.models import model_entry
from edgebench.train.checkpoint import load_checkpoint

_PYTHON_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(kw_only=True)
class ModelSource:
    name: str
    kind: str  # "zoo" | "onnx" | "python"
    module: Any = None  # a torch.nn.Module in eval mode, when there is one
    onnx_path: Optional[Path] = None
    config: Dict[str, Any] = field(default_factory=dict)
    preprocess: Optional[Preprocess] = None
    class_names: Optional[Tuple[str, ...]] = None
    data: Optional[str] = None
    trained: bool = False
    provenance: Dict[str, Any] = field(default_factory=dict)
    onnx_input: Any = None  # an onnx_input.InputContract, for an ONNX file


def resolve_model(model: str, checkpoint: Optional[str] = None) -> ModelSource:
    if model.endswith(".onnx"):
        if checkpoint:
            raise EdgebenchError("--checkpoint goes with a zoo model, not with an ONNX file")
        return _from_onnx(Path(model))
    if _PYTHON_REF.match(model):
        return _from_python(model, checkpoint)
    return _from_zoo(model, checkpoint)


def _from_zoo(name: str, checkpoint: Optional[str]) -> ModelSource:
    model_entry(name)  # unknown names fail here with the close matches
    if checkpoint is None:
        return ModelSource(name=name, kind="zoo", module=None, config={}, trained=False)
    ckpt = load_checkpoint(checkpoint)
    if ckpt.model_name != name:
        raise EdgebenchError(f"checkpoint {checkpoint} holds '{ckpt.model_name}', not '{name}'")
    return ModelSource(
        name=name, kind="zoo", module=ckpt.build_model(), config=dict(ckpt.model_config),
        preprocess=ckpt.preprocess, class_names=ckpt.class_names, data=ckpt.dataset.get("source"), trained=True,
        provenance={"checkpoint": str(Path(checkpoint).resolve()), "checkpoint_sha256": sha256_file(checkpoint),
                    "checkpoint_accuracy": ckpt.accuracy, "dataset": ckpt.dataset,
                    "pruning": {k: v for k, v in ckpt.extra.get("pruning", {}).items() if k != "spec"} or None},
    )


def _from_onnx(path: Path) -> ModelSource:
    if not path.is_file():
        raise EdgebenchError(f"ONNX file {path} does not exist" if not path.exists() else
                             f"{path} is not a file: give the path of an .onnx model")
    import onnx  # onnx: heavy, loaded only when a graph is read or built


    model = load_model(path, with_weights=False)  # names missing external weight files
    try:
        onnx.checker.check_model(str(path))  # by path: external weights are checked beside the file
    except Exception as exc:  # onnx raises several unrelated types for a bad file
        first = (str(exc).strip().splitlines() or ["invalid model"])[0]
        raise EdgebenchError(f"{path} is not a valid ONNX model: {first[:200]}") from None
    return ModelSource(name=path.stem, kind="onnx", onnx_path=path.resolve(), trained=True,
                       provenance={"onnx": str(path.resolve())}, onnx_input=inspect_input(model, str(path)))


def _from_python(reference: str, checkpoint: Optional[str]) -> ModelSource:
    import torch  # torch: heavy, loaded only when this runs

    module_name, function_name = reference.split(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise EdgebenchError(f"cannot load {reference}: {exc}") from None
    except Exception as exc:  # importing the user's module ran their code
        raise EdgebenchError(f"cannot load {reference}: importing {module_name} raised {type(exc).__name__}: "
                             f"{(str(exc).strip().splitlines() or [''])[0][:200]}") from None
    try:
        module = function()
    except Exception as exc:  # the user's code: any failure is theirs to see, in one line
        first = (str(exc).strip().splitlines() or [""])[0]
        raise EdgebenchError(f"{reference}() raised {type(exc).__name__}: {first[:200]}") from None
    if not isinstance(module, torch.nn.Module):
        raise EdgebenchError(f"{reference} returned {type(module).__name__}, not a torch.nn.Module")
    if checkpoint:
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            module.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
        except Exception as exc:  # torch.load raises pickle, zip, OS and key errors alike
            first = (str(exc).strip().splitlines() or ["unreadable"])[0]
            raise EdgebenchError(f"cannot load weights {checkpoint} into {reference}: {first[:200]}") from None
    # The function owns its weights: whatever it returns is what gets exported.
    return ModelSource(name=function_name, kind="python", module=module.eval(), trained=True,
                       provenance={"python": reference, "checkpoint": checkpoint})
