"""Finds variant files (YAML or JSON) and registers each as a model.

Searched, in order: the repository's `models/` folder, `./models` in the working directory, and every folder
in $EDGEBENCH_MODELS (separated like PATH)."""

from __future__ import annotations

import os
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Dict, List

from edgebench.errors import EdgebenchError
from edgebench.models.registry import MODELS, ModelEntry
from edgebench.models.variants.resnet import VariantResNet
from edgebench.models.variants.spec import ResNetArch, VariantSpec, load_file
from edgebench.models.variants.vgg import VariantVGG

SUFFIXES = (".yaml", ".yml", ".json")


def variant_dirs() -> List[Path]:
    candidates = [Path(__file__).resolve().parents[3] / "models", Path.cwd() / "models"]
    candidates += [Path(p) for p in os.environ.get("EDGEBENCH_MODELS", "").split(os.pathsep) if p]
    seen, dirs = set(), []
    for folder in candidates:
        key = folder.resolve() if folder.exists() else folder
        if folder.is_dir() and key not in seen:
            seen.add(key)
            dirs.append(folder)
    return dirs


def variant_files() -> List[Path]:
    return [path for folder in variant_dirs() for path in sorted(folder.rglob("*"))
            if path.suffix in SUFFIXES and path.is_file()]


def load_variants() -> Dict[str, VariantSpec]:
    specs: Dict[str, VariantSpec] = {}
    for path in variant_files():
        spec = load_file(path)
        if spec.name in specs:
            if replace(specs[spec.name], source="") == replace(spec, source=""):
                continue  # the same definition reached twice (a copy of the study's files): one model
            raise EdgebenchError(f"model '{spec.name}' is defined twice: {specs[spec.name].source} and {path}")
        specs[spec.name] = spec
    return specs


def register_variants() -> None:
    specs = load_variants()  # all files parse before any registers
    for name, spec in specs.items():
        if name in MODELS:
            raise EdgebenchError(f"{spec.source}: model '{name}' is already a built-in model; pick another name")
    for name, spec in specs.items():
        MODELS.add(name, ModelEntry(name=name, build=partial(build_variant, spec), family=spec.base,
                                    description=spec.description, input_size=spec.input_size,
                                    techniques=spec.techniques, defaults={"input_size": spec.input_size},
                                    variant=spec))


def build_variant(spec: VariantSpec, *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32):
    """The torch module of a variant; widths that cannot work together (channels not divisible by the
    groups, say) fail as one error naming the file."""
    network = VariantResNet if isinstance(spec.arch, ResNetArch) else VariantVGG
    try:
        return network(spec.arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    except ValueError as error:
        raise EdgebenchError(f"{spec.source}: cannot build '{spec.name}': {error}") from None
