"""Collect result JSONs from files, folders and globs, validated against the result schema."""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

from edgebench.errors import EdgebenchError
from edgebench.export.manifest import validate

RESULT_KIND = "edgebench.result"


@dataclass(frozen=True)
class LoadedResult:
    path: Path
    document: Dict


def _candidates(inputs: Sequence[str]) -> List[Path]:
    files: List[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.json") if not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True))
            if not matches:
                raise EdgebenchError(f"{item} does not exist (give result files, folders or globs)")
            files += [p for p in matches if p.is_file()]
    return files


def load_results(inputs: Sequence[str]) -> List[LoadedResult]:
    explicit = {Path(item) for item in inputs if Path(item).is_file()}
    results = []
    for path in _candidates(inputs):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            if path in explicit:
                raise EdgebenchError(f"{path} is not valid JSON: {exc}") from None
            continue
        if not isinstance(document, dict) or document.get("kind") != RESULT_KIND:
            if path in explicit:
                raise EdgebenchError(f"{path} is not an edgebench result (kind '{RESULT_KIND}')")
            continue  # manifests and other JSON files inside a results folder
        validate(document, "result", str(path))
        results.append(LoadedResult(path, document))
    if not results:
        raise EdgebenchError(f"no edgebench results found in {', '.join(inputs)}")
    return results
