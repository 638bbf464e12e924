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
from edgebench.models.variants.spec import VariantSpec

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
    from edgebench.models.variants.spec import load_file

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
    from edgebench.models.registry import MODELS, ModelEntry
    from edgebench.models.variants.structure import build_variant

    specs = load_variants()  # all files parse before any registers
    for name, spec in specs.items():
        if name in MODELS:
            raise EdgebenchError(f"{spec.source}: model '{name}' is already a built-in model; pick another name")
    for name, spec in specs.items():
        MODELS.add(name, ModelEntry(name, partial(build_variant, spec), spec.base, spec.description, spec.input_size,
                                    spec.techniques, {"input_size": spec.input_size}, spec))
