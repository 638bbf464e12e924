"""What the API accepts as a model and as data, turned into what the pipeline reads.

A model is a zoo name, an `.onnx` path, a `package.module:function` reference (handed to the pipeline as
they are), an `onnx.ModelProto` (written to a temporary file for the export's duration) or a `torch.nn.Module`
in memory (exported as it is, like a Python reference's module). Data is a path (or None: the embedded digits)
or numpy arrays, `(x_train, y_train, x_test, y_test)` or `(images, labels)`, written to a temporary `.npz`
so that the data layer reads and checks them as it checks any file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple, Union

import numpy as np

from edgebench.data import load_split
from edgebench.errors import BadInputError
from edgebench.export.source import ModelSource, resolve_model

MODEL_KINDS = ("a zoo name, an .onnx path, a package.module:function reference, an onnx.ModelProto or a "
               "torch.nn.Module")
DATA_KINDS = ("a data set path, or numpy arrays (x_train, y_train, x_test, y_test) or (images, labels), or a dict "
              "with those keys")


def is_module(model: Any) -> bool:
    torch = sys.modules.get("torch")  # a module object exists only if torch was imported
    return torch is not None and isinstance(model, torch.nn.Module)


def is_model_proto(model: Any) -> bool:
    return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")


def model_name(model: Any, name: Optional[str]) -> str:
    """The name a bundle and its manifest carry (the default output folder is bundles/NAME)."""
    if name:
        return name
    if is_module(model):
        return type(model).__name__.lower()
    if is_model_proto(model):
        return model.graph.name or "model"
    text = str(model)
    return Path(text).stem if text.endswith(".onnx") else text.split(":")[-1]


@contextmanager
def model_source(model: Any, name: str, input_size: Optional[int], channels: Optional[int]) -> Iterator[Any]:
    """What `export_bundle` takes for `model`: a string it resolves, or a ready `ModelSource`."""
    if isinstance(model, (str, os.PathLike)):
        yield str(model)
    elif is_module(model):
        yield _module_source(model, name, input_size, channels)
    elif is_model_proto(model):
        with tempfile.TemporaryDirectory(prefix="edgebench-model-") as folder:
            yield _proto_source(model, name, Path(folder))
    else:
        raise BadInputError(f"model of type {type(model).__name__} is not one edgebench exports: give {MODEL_KINDS}")


def first_conv_channels(module) -> Optional[int]:
    import torch  # torch: only for a module in memory

    first = next((m for m in module.modules() if isinstance(m, torch.nn.Conv2d)), None)
    return first.in_channels if first is not None else None


def _module_source(module, name: str, input_size: Optional[int], channels: Optional[int]):
    import torch  # torch: only for a module in memory


    side = input_size or 32
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(1, channels or 3, side, side))
    except Exception as exc:  # the user's module: any failure is theirs to see, in one line
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise BadInputError(f"{type(module).__name__} does not run on a 1x{channels or 3}x{side}x{side} input "
                            f"({type(exc).__name__}: {first}): pass input_size= (and channels=) for the size it "
                            "takes") from None
    return ModelSource(name=name, kind="python", module=module.eval(), trained=True,
                       provenance={"python": f"in-memory {type(module).__module__}.{type(module).__name__}"})


def _proto_source(proto, name: str, folder: Path):
    import onnx  # onnx: only for a ModelProto


    path = folder / f"{name}.onnx"
    onnx.save(proto, str(path))
    source = resolve_model(str(path))
    source.provenance = {"onnx": "in-memory onnx.ModelProto"}
    return source


ArrayData = Union[Tuple[Any, ...], dict]


@contextmanager
def data_path(data: Any) -> Iterator[Optional[str]]:
    """A path the data layer reads: the one given, or a temporary .npz holding the arrays."""
    if data is None or isinstance(data, (str, os.PathLike)):
        yield None if data is None else str(data)
        return
    arrays = _arrays(data)

    with tempfile.TemporaryDirectory(prefix="edgebench-data-") as folder:
        path = Path(folder) / "arrays.npz"
        np.savez(path, **arrays)
        yield str(path)


def _arrays(data: Any) -> dict:
    if isinstance(data, dict):
        keys = set(data)
        if keys >= {"x_train", "y_train", "x_test", "y_test"} or keys >= {"images", "labels"}:
            return dict(data)
    elif isinstance(data, (tuple, list)) and len(data) in (2, 4):
        names = ("x_train", "y_train", "x_test", "y_test") if len(data) == 4 else ("images", "labels")
        return dict(zip(names, data))
    raise BadInputError(f"data of type {type(data).__name__} is not one edgebench reads: give {DATA_KINDS}")


def digits() -> Tuple[Any, Any, Any, Any]:
    """The embedded 8x8 handwritten digits as numpy arrays: (x_train, y_train, x_test, y_test), uint8 images."""
    train, test = load_split(None, "train"), load_split(None, "test")
    return train.images, train.labels, test.images, test.labels
