"""`edgebench.diagnose`: the first ONNX node (and torch layer) where an artifact departs from its fp32 model.

Either a bundle (every artifact on its own eval images; the rejected ones as the export recorded them) or an
fp32 `.onnx` model and one artifact file (`.tflite` or `.onnx`) on images from `data`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from edgebench.api import rules
from edgebench.api.inputs import data_path
from edgebench.api.tables import html_table, text_table
from edgebench.data import Preprocess, fit_normalisation, limit, load_split, normalise, resize_images
from edgebench.errors import BadInputError, UnknownNameError
from edgebench.export.diagnose import Divergence, diagnose_many
from edgebench.export.diagnose.onnx_tensors import read_graph
from edgebench.export.diagnose.tflite_tensors import input_shape
from edgebench.export.manifest import read_manifest

REFERENCE_FILE = "model.fp32.onnx"


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One artifact: where it first departs (`divergence`, None when it agrees), or why export refused it."""

    name: str
    text: str  # the line the command line prints after "NAME: "
    divergence: Optional[Dict[str, Any]]
    details: Dict[str, Any] = field(repr=False)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, **self.details}


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    reference: Path
    findings: Tuple[Finding, ...]

    @property
    def diverged(self) -> bool:
        return any(finding.divergence for finding in self.findings)

    def to_dict(self) -> Dict[str, Any]:
        return {"reference": str(self.reference), "artifacts": [finding.to_dict() for finding in self.findings]}

    def _table(self):
        return f"Diagnosis against {self.reference}", ("artifact", "finding"), [(f.name, f.text) for f in self.findings]

    def __repr__(self) -> str:
        return text_table(*self._table())

    def _repr_html_(self) -> str:
        return html_table(*self._table())


def diagnose(paths: Union[Any, Sequence[Any]], *, artifacts: Sequence[str] = (), images: int = 4,
             tolerance: Optional[float] = None, data: Any = None, layout: Optional[str] = None,
             mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
             input_size: Optional[int] = None) -> Diagnosis:
    """`paths`: a bundle (a `Bundle` or its folder), or `(MODEL.onnx, ARTIFACT)`. Options as `edgebench diagnose`."""
    paths = [Path(getattr(p, "path", p)) for p in ([paths] if isinstance(paths, (str, Path)) or
                                                    hasattr(paths, "manifest") else list(paths))]
    images = rules.POSITIVE_INT.check(images, "images")
    rules.optional(rules.POSITIVE_FLOAT, tolerance, "tolerance")
    recorded: List[Dict] = []
    if len(paths) == 1:
        if data is not None or layout or mean or std or input_size:
            raise BadInputError("--data, --layout, --mean, --std and --input-size are for MODEL.onnx ARTIFACT: a "
                                "bundle carries its own images, layouts and normalisation")
        reference, jobs, inputs, recorded = _bundle_jobs(paths[0], artifacts, images)
    elif len(paths) == 2:
        if artifacts:
            raise BadInputError("--artifact picks from a bundle: with MODEL.onnx ARTIFACT the artifact is the "
                                "second path")
        with data_path(data) as data_ref:
            reference, jobs, inputs = _file_job(paths[0], paths[1], data_ref, layout, mean, std, images, input_size)
    else:
        raise BadInputError(f"expected a bundle folder or MODEL.onnx ARTIFACT, got {len(paths)} paths")
    diagnoses = diagnose_many(reference, [(path, artifact_layout) for _, path, artifact_layout in jobs], inputs,
                              tolerance=tolerance, max_images=images) if jobs else []
    findings = [Finding(name=name, text=found.describe(), divergence=found.as_dict()["divergence"],
                        details=found.as_dict()) for (name, _, _), found in zip(jobs, diagnoses)]
    findings += [Finding(name=entry["name"], text=recorded_line(entry), divergence=recorded_divergence(entry),
                         details={"rejected": entry.get("reason"), "divergence": recorded_divergence(entry)})
                 for entry in recorded]
    return Diagnosis(reference=reference, findings=tuple(findings))


def recorded_divergence(entry: dict):
    divergence = entry.get("divergence")
    return divergence if isinstance(divergence, dict) and "node" in divergence else None


def recorded_line(entry: dict) -> str:
    """A rejected artifact is not in the bundle: say what the export recorded about it."""
    line = f"rejected at export ({entry.get('reason', 'no reason recorded')}), so not in the bundle"
    divergence = recorded_divergence(entry)
    if divergence is not None:
        line += f"; first divergence: {Divergence.from_dict(divergence).describe()}"
    return line


def _bundle_jobs(bundle: Path, wanted: Sequence[str], count: int):
    if not bundle.is_dir():
        kind = "an .onnx file: give the artifact to compare with it too" if bundle.suffix == ".onnx" else \
            "not a folder"
        raise BadInputError(f"{bundle} is {kind} (a bundle is the folder `edgebench export` writes)" if
                            bundle.exists() else f"{bundle} does not exist: give a bundle folder")
    manifest = read_manifest(bundle)
    entries = {entry["name"]: entry for entry in manifest["artifacts"]}
    reference = next((bundle / entry["file"] for entry in entries.values()
                      if entry["format"] == "onnx" and entry["precision"] == "fp32"), bundle / REFERENCE_FILE)
    if not reference.is_file():
        raise BadInputError(f"{bundle} has no fp32 ONNX model ({reference.name}) to compare with")
    rejected = {entry["name"]: entry for entry in manifest.get("rejected") or ()}
    candidates = [name for name, entry in entries.items() if bundle / entry["file"] != reference]
    for name in wanted:
        if name not in candidates and name not in rejected:
            raise UnknownNameError("artifact", name, [*candidates, *rejected])
    chosen = [name for name in wanted if name in entries] if wanted else candidates
    recorded = [rejected[name] for name in (wanted or rejected) if name in rejected]
    if not chosen and not recorded:
        raise BadInputError(f"{bundle} holds only its fp32 ONNX model: there is nothing to diagnose")
    jobs = []
    for name in chosen:
        path = bundle / entries[name]["file"]
        if not path.is_file():
            raise BadInputError(f"{bundle} lists {name} but its file {path.name} is missing")
        jobs.append((name, path, entries[name]["input"]["layout"]))
    images = _eval_images(bundle / manifest["eval"]["file"], count)
    return reference, jobs, normalise(images, Preprocess.from_dict(manifest["preprocess"])), recorded


def _eval_images(path: Path, count: int):

    try:
        with np.load(path, allow_pickle=False) as archive:
            return np.asarray(archive["images"][:count])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise BadInputError(f"{path} does not hold the bundle's eval images: {exc}") from None


def _file_job(model: Path, artifact: Path, data: Optional[str], layout: Optional[str],
              mean: Optional[Sequence[float]], std: Optional[Sequence[float]], count: int,
              input_size: Optional[int]):
    if model.suffix != ".onnx":
        raise BadInputError(f"{model.name}: the reference must be an .onnx file (or give a bundle folder alone)")
    for path in (model, artifact):
        if not path.is_file():
            raise BadInputError(f"{path} does not exist")
    shape = read_graph(model).input_shape
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise BadInputError(f"{model.name} takes input shape {list(shape)}: diagnose needs an NCHW image input "
                            "with 1 or 3 channels")
    channels, height, width = shape[1:]
    if height < 1 or width < 1:
        if input_size is None:
            raise BadInputError(f"{model.name} has a dynamic height and width: pass --input-size, e.g. 32")
        height = width = input_size
    for name, values in (("--mean", mean), ("--std", std)):
        if values is not None and len(values) != channels:
            raise BadInputError(f"{name} needs {channels} values (one per input channel), got {len(values)}")
    imageset = resize_images(limit(load_split(data, "test"), count), (height, width), channels)
    if mean is None or std is None:
        fitted_mean, fitted_std = fit_normalisation(imageset)
        mean, std = mean or fitted_mean, std or fitted_std
    preprocess = Preprocess(input_size=(height, width), channels=channels, mean=tuple(mean), std=tuple(std))
    inputs = normalise(imageset.images, preprocess)
    chosen = layout.upper() if layout else _detected_layout(artifact, channels, height, width)
    return model, [(artifact.name, artifact, chosen)], inputs


def _detected_layout(artifact: Path, channels: int, height: int, width: int) -> str:
    """An .onnx artifact is NCHW; a .tflite one is NHWC unless its input is [1, C, H, W] (and not also NHWC)."""
    if artifact.suffix != ".tflite":
        return "NCHW"

    shape = input_shape(artifact)
    return "NCHW" if shape[1:] == [channels, height, width] and shape[1:] != [height, width, channels] else "NHWC"
