"""The host stage: each export group written once into a content-addressed cache, then every candidate's
artifact and its accuracy against the fp32 reference on the bundled eval set.

`export_group(task)` is a pure top-level function of a frozen spec, run by the executor seam (`local`,
`process:N`, `ray[:ADDRESS]`), so the exports can run anywhere; the
same spec (same model source, data and settings) always lands in the same cache folder and is never exported
again.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from edgebench import __version__
from edgebench.errors import EdgebenchError, WriteError
from edgebench.export.manifest import MANIFEST_FILE
from edgebench.export.pipeline import export_bundle
from edgebench.export.spec import ExportSpec, Format, GateSpec, Precision, QuantSpec
from edgebench.fileio import sha256_file

CACHE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class ModelInput:
    """What `export` takes about the model and its data."""

    model: str
    checkpoint: Optional[str] = None
    data: Optional[str] = None
    input_size: Optional[int] = None
    channels: Optional[int] = None
    mean: Optional[Tuple[float, ...]] = None
    std: Optional[Tuple[float, ...]] = None
    eval_size: int = 500
    calibration_size: int = 256

    def identity(self) -> Dict:
        """The model's settings plus the content of its files: the part of a cache key that names the source."""
        facts = asdict(self)
        for key in ("model", "checkpoint", "data"):
            path = Path(str(facts[key] or ""))
            if facts[key] and path.is_file():
                facts[f"{key}_sha256"] = _sha256(path)
        return facts


@dataclass(frozen=True, kw_only=True)
class ExportTask:
    source: ModelInput
    format: str
    mixed: bool  # int8 with the fewest float layers within max_drop (the export's budget search)
    precisions: Tuple[str, ...]
    max_drop: Optional[float]
    cache: Path

    def key(self) -> str:
        facts = {"version": CACHE_VERSION, "edgebench": __version__, "source": self.source.identity(),
                 "format": self.format, "mixed": self.mixed, "precisions": list(self.precisions),
                 "max_drop": self.max_drop if self.mixed else None}
        return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:20]

    @property
    def folder(self) -> Path:
        return self.cache / f"{self.format}{'-mix' if self.mixed else ''}-{self.key()}"


@dataclass(frozen=True, kw_only=True)
class ExportOutcome:
    folder: Optional[Path]
    manifest: Optional[Dict]
    error: Optional[str]  # the whole export failed: every candidate of the group is refused with it
    cached: bool
    seconds: float
    write_failed: bool = False  # the host could not write it (a full disk): every later export would fail too


def export_group(task: ExportTask) -> ExportOutcome:
    """One bundle of `task`'s precisions for its format, or the cached one."""
    folder = task.folder
    if (folder / MANIFEST_FILE).is_file():
        return ExportOutcome(folder=folder, manifest=json.loads((folder / MANIFEST_FILE).read_text()), error=None,
                             cached=True, seconds=0.0)
    tick = time.perf_counter()
    try:
        manifest = _export(task, folder)
    except EdgebenchError as exc:  # a full disk (WriteError) fails every export after it: the run stops, saying so
        return ExportOutcome(folder=None, manifest=None, error=str(exc), cached=False,
                             seconds=time.perf_counter() - tick, write_failed=isinstance(exc, WriteError))
    return ExportOutcome(folder=folder, manifest=manifest, error=None, cached=False,
                         seconds=round(time.perf_counter() - tick, 2))


def _export(task: ExportTask, folder: Path) -> Dict:
    source = task.source
    # Drops are the search's to judge (accuracy-drop, with the figure); the gate still refuses broken artifacts.
    gate = GateSpec(max_quant_drop=None, min_quant_agreement=0.0,
                    max_int8_drop=task.max_drop if task.mixed else None)
    spec = ExportSpec(precisions=tuple(Precision(p) for p in task.precisions), formats=(Format(task.format),),
                      quant=QuantSpec(max_drop_pp=task.max_drop if task.mixed else None,
                                      calibration_size=source.calibration_size),
                      gate=gate, eval_size=source.eval_size)
    size = None if source.input_size is None else (source.input_size, source.input_size)
    return export_bundle(source.model, folder, spec, checkpoint=source.checkpoint, data=source.data,
                         input_size=size, channels=source.channels, mean=source.mean, std=source.std,
                         overwrite=True, log=lambda line: None)


def host_accuracy(entry: Dict) -> Tuple[Optional[float], Optional[float], str]:
    """(accuracy %, drop in points against fp32, what the drop is measured as) of a manifest artifact: the
    labelled accuracy when there is one, else the top-1 disagreement with the reference (untrained models)."""
    check = entry.get("check") or {}
    if check.get("accuracy") is not None and check.get("reference_accuracy") is not None:
        accuracy = 100.0 * check["accuracy"]
        return round(accuracy, 4), round(100.0 * check["reference_accuracy"] - accuracy, 4), "accuracy"
    agreement = check.get("top1_agreement")
    if agreement is None:
        return None, None, "unmeasured"
    return None, round(100.0 * (1.0 - agreement), 4), "top-1 disagreement with fp32"


def group_entries(outcome: ExportOutcome, fmt: str, precisions: Sequence[str]) -> Dict[str, Dict]:
    """precision -> its manifest entry (kept) or rejection (refused) in this group's bundle."""
    found: Dict[str, Dict] = {}
    if outcome.manifest is None:
        return found
    for entry in outcome.manifest.get("artifacts", []):
        if entry["format"] == fmt and entry["precision"] in precisions:
            found[entry["precision"]] = dict(entry, kept=True)
    for entry in outcome.manifest.get("rejected", []):
        if entry["format"] == fmt and entry["precision"] in precisions and entry["precision"] not in found:
            found[entry["precision"]] = dict(entry, kept=False)
    return found


def _sha256(path: Path) -> str:
    return sha256_file(path)
