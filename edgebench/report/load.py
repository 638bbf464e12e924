"""Collect result JSONs from files, folders and globs, validated against the result schema.

A file read twice (named twice, or matched by two globs) or two files with the same bytes count once."""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from device_agent import RESULT_SCHEMA_VERSION
from device_agent.fileio import non_finite_key
from device_agent.schema import RESULT_KIND
from edgebench.errors import EdgebenchError
from edgebench.export.manifest import validate



@dataclass(frozen=True, kw_only=True)
class LoadedResult:
    path: Path
    document: Dict
    sha256: str = ""


def _candidates(inputs: Sequence[str]) -> List[Path]:
    files: List[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.json") if not p.name.startswith(".") and p.is_file())
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise EdgebenchError(f"{item} is not a file or folder (give result files, folders or globs)")
        else:
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True))
            if not matches:
                raise EdgebenchError(f"{item} does not exist (give result files, folders or globs)")
            files += [p for p in matches if p.is_file()]
    return files


def load_results(inputs: Sequence[str],
                 on_duplicate: Callable[[Path, Path], None] = lambda duplicate, first: None) -> List[LoadedResult]:
    """`on_duplicate(path, first_path)` hears of each file skipped because its bytes were read already."""
    explicit = {Path(item) for item in inputs if Path(item).is_file()}
    results: List[LoadedResult] = []
    seen: Dict[str, Path] = {}
    for path in _candidates(inputs):
        try:
            data = path.read_bytes()
            document = parse_result(data, str(path))
        except (OSError, NotAResult) as exc:
            if path in explicit:
                raise EdgebenchError(str(exc) if isinstance(exc, NotAResult) else f"{path}: {exc}") from None
            continue  # manifests and other JSON files inside a results folder
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            on_duplicate(path, seen[digest])
            continue
        seen[digest] = path
        results.append(LoadedResult(path=path, document=document, sha256=digest))
    if not results:
        raise EdgebenchError(f"no edgebench results found in {', '.join(inputs)}")
    return results


class NotAResult(EdgebenchError):
    """The bytes hold no edgebench result at all: not JSON, or a document of another kind."""


def parse_result(data: bytes, where: str) -> Dict:
    """The one reader of a result: JSON, its kind, its version and the schema (`check_result`)."""
    try:
        document = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise NotAResult(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("kind") != RESULT_KIND:
        raise NotAResult(f"{where} is not an edgebench result (kind '{RESULT_KIND}')")
    check_result(document, where)
    return document


def read_result(path: Path) -> Dict:
    """The result in file `path`, checked as `parse_result` does; one EdgebenchError naming the file if not."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise EdgebenchError(f"{path} cannot be read: {exc.strerror or exc}") from None
    return parse_result(data, str(path))


def check_result(document: Dict, where: str) -> None:
    """The schema, plus what a schema cannot say: a readable version, finite numbers, a latency per success."""
    version = document.get("schema_version")
    if type(version) is not int or not 1 <= version <= RESULT_SCHEMA_VERSION:
        readable = f"1 to {RESULT_SCHEMA_VERSION}" if RESULT_SCHEMA_VERSION > 1 else "1"
        raise EdgebenchError(f"{where} has result schema_version {version!r}; this edgebench reads version {readable}: "
                             "update edgebench (pip install -U edgebench) to read it")
    bad = non_finite_key(document)
    if bad is not None:
        raise EdgebenchError(f"{where} is invalid at {bad}: it is not a finite number (the file was edited or "
                             "damaged; measure again)")
    validate(document, "result", where)
    _check_fields(document, where)
    for index, run in enumerate(document["runs"]):
        if not run["error"] and "latency_ms" not in run:
            raise EdgebenchError(f"{where} is invalid at runs[{index}].latency_ms: run '{run['artifact']}' has neither "
                                 "an error nor latency_ms (the file was edited or damaged; measure again)")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _texts(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


_MISSING = object()
# Fields the schema leaves open that the report reads: (location, accepted, what is valid).
_FIELDS = (
    ("settings.threads", _whole, "a whole number of 0 or more"),
    ("settings.eval_limit", lambda v: v is _MISSING or v is None or _whole(v), "a whole number or null"),
    ("bundle.model.name", lambda v: v is _MISSING or isinstance(v, str), "a text"),
    ("bundle.eval.sha256", lambda v: v is _MISSING or v is None or isinstance(v, str), "a text or null"),
    ("device.emulated", lambda v: v is _MISSING or isinstance(v, bool), "true or false"),
    ("thermal.flags", lambda v: v is _MISSING or v is None or _texts(v), "a list of texts"),
)


def _positive_numbers(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                                           for v in value)


def _interval(value) -> bool:
    return _positive_numbers(value) and len(value) == 2 and value[0] <= value[1]


STABILITY_VERDICTS = ("stable", "noisy", "throttled", "too-short")
# Per-run fields of schema minor 2 that the report reads; absent in older results.
_RUN_FIELDS = (
    ("config", lambda v: v is _MISSING or v is None or isinstance(v, str), "a text"),
    ("rounds_ms", lambda v: v is _MISSING or v is None or _positive_numbers(v), "a list of positive numbers"),
    ("latency_ms.p50_ci95", lambda v: v is _MISSING or v is None or _interval(v), "[lo, hi] with 0 < lo <= hi"),
    ("latency_ms.ci_half_width_pct", lambda v: v is _MISSING or v is None or
     (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0), "a number of 0 or more"),
    ("stability.verdict", lambda v: v is _MISSING or v in STABILITY_VERDICTS, " or ".join(STABILITY_VERDICTS)),
    ("setting.threads", lambda v: v is _MISSING or v is None or _whole(v), "a whole number of 0 or more"),
)


def _lookup(document: Dict, location: str):
    value = document
    for key in location.split("."):
        value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
    return value


def _check_fields(document: Dict, where: str) -> None:
    for location, accepted, valid in _FIELDS:
        value = _lookup(document, location)
        if not accepted(value):
            raise EdgebenchError(f"{where} is invalid at {location}: {value!r} is not {valid}")
    interleave = _lookup(document, "settings.interleave")
    if not (interleave is _MISSING or interleave is None or isinstance(interleave, bool)):
        raise EdgebenchError(f"{where} is invalid at settings.interleave: {interleave!r} is not true or false")
    for index, run in enumerate(document["runs"]):
        if run.get("error"):
            continue
        for location, accepted, valid in _RUN_FIELDS:
            value = _lookup(run, location)
            if not accepted(value):
                raise EdgebenchError(f"{where} is invalid at runs[{index}].{location}: {value!r} is not {valid}")
