"""Reading a bundle, the one place its manifest is read: schema, paths, checksums, the evaluation set, and
inputs in each artifact's layout.

`load_bundle` validates the manifest against `schemas/manifest.schema.json`, resolves every file it names
inside the bundle folder before anything is opened, then checks each file's sha256. A file that is missing or
changed costs only the artifact that uses it (`Bundle.problems`); `Bundle.check()` refuses the whole bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from device_agent.errors import AgentError
from device_agent.fileio import resolve_inside, sha256_file
from device_agent.schema import validate

MANIFEST_FILE = "manifest.json"
MANIFEST_KIND = "edgebench.bundle"
MANIFEST_VERSIONS = (1,)
MAX_MANIFEST_BYTES = 64 * 2**20

__all__ = ["Bundle", "MANIFEST_FILE", "load_bundle", "load_eval", "prepare_inputs", "sha256_file", "verify_file"]


@dataclass(frozen=True)
class Bundle:
    path: str
    manifest: Dict[str, Any]
    manifest_sha256: str
    files: Dict[str, str] = field(default_factory=dict)  # manifest file name -> real path inside the bundle
    problems: Dict[str, str] = field(default_factory=dict)  # manifest file name -> why it cannot be used

    @property
    def artifacts(self) -> List[Dict[str, Any]]:
        return self.manifest["artifacts"]

    def artifact_path(self, entry: Dict[str, Any]) -> str:
        return self.files[entry["file"]]

    def verified_path(self, entry: Dict[str, Any]) -> str:
        """The file's path, unless it is missing or its checksum differs from the manifest."""
        problem = self.problems.get(entry["file"])
        if problem:
            raise AgentError(problem)
        return self.files[entry["file"]]

    def check(self) -> None:
        """Refuse the bundle if any file it names is missing or changed."""
        for problem in self.problems.values():
            raise AgentError(problem)


def _strict_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _read_manifest(path: str) -> Tuple[Dict[str, Any], bytes]:
    manifest, raw = read_manifest_document(path)
    manifest_path = os.path.join(path, MANIFEST_FILE)
    version = manifest.get("schema_version")
    if type(version) is not int or version not in MANIFEST_VERSIONS:
        raise AgentError(f"{manifest_path}: schema_version {version!r} is not supported: this agent reads "
                         f"{', '.join(map(str, MANIFEST_VERSIONS))}; update the agent")
    validate(manifest, "manifest", manifest_path)
    preprocess = manifest["preprocess"]
    for key in ("mean", "std"):
        if len(preprocess[key]) not in (1, preprocess["channels"]):
            raise AgentError(f"{manifest_path}: preprocess.{key} has {len(preprocess[key])} values; "
                             f"give 1 or one per channel ({preprocess['channels']})")
    return manifest, raw


def read_manifest_document(path: str) -> Tuple[Dict[str, Any], bytes]:
    """The first step of `load_bundle`: the manifest of the folder `path` as JSON of the bundle kind (any version,
    not yet validated) and its bytes. `is_bundle` stops here: a folder edgebench wrote, damaged or not."""
    manifest_path = os.path.join(path, MANIFEST_FILE)
    if not os.path.isdir(path):
        if os.path.lexists(path):
            raise AgentError(f"{path} is not a folder: give the bundle folder written by `edgebench export`")
        raise AgentError(f"bundle folder {path} does not exist")
    if not os.path.lexists(manifest_path):
        raise AgentError(f"{path} is not a bundle: {MANIFEST_FILE} is missing")
    real = resolve_inside(path, MANIFEST_FILE)
    if not os.path.isfile(real):
        raise AgentError(f"{manifest_path} is not a regular file")
    try:
        if os.path.getsize(real) > MAX_MANIFEST_BYTES:
            raise AgentError(f"{manifest_path} is larger than {MAX_MANIFEST_BYTES >> 20} MiB: not a manifest")
        with open(real, "rb") as handle:
            raw = handle.read()
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_strict_constant)
    except OSError as exc:
        raise AgentError(f"cannot read {manifest_path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise AgentError(f"{manifest_path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
        raise AgentError(f"{manifest_path} is not an edgebench bundle manifest (kind must be '{MANIFEST_KIND}')")
    return manifest, raw


def _resolve_files(path: str, manifest: Dict[str, Any]) -> Dict[str, str]:
    manifest_path = os.path.join(path, MANIFEST_FILE)
    entries = [("eval.file", manifest["eval"])] + [(f"artifacts[{i}].file", a) for i, a in
                                                   enumerate(manifest["artifacts"])]
    files: Dict[str, str] = {}
    for where, entry in entries:
        try:
            files[entry["file"]] = resolve_inside(path, entry["file"])
        except AgentError as exc:
            raise AgentError(f"{manifest_path}: {where}: {exc}") from None
    names: Dict[str, int] = {}
    for index, artifact in enumerate(manifest["artifacts"]):
        if artifact["name"] in names:
            raise AgentError(f"{manifest_path}: artifacts[{index}].name '{artifact['name']}' repeats "
                             f"artifacts[{names[artifact['name']]}].name; names must be unique")
        names[artifact["name"]] = index
    return files


def _file_problem(name: str, real: str, expected: str) -> Optional[str]:
    if not os.path.isfile(real):
        return f"{name} is missing from the bundle" if not os.path.lexists(real) else \
            f"{name} in the bundle is not a regular file"
    try:
        actual = sha256_file(real)
    except OSError as exc:
        return f"cannot read {name}: {exc.strerror or exc}"
    if actual != expected:
        return (f"{name} has sha256 {actual[:12]}..., the manifest says {expected[:12]}...: the file is corrupt "
                "or was changed; copy the bundle again")
    return None


def load_bundle(path: str, verify: bool = True) -> Bundle:
    """The bundle at `path`, its manifest validated and every path checked; with `verify`, each file's sha256
    is compared with the manifest (problems recorded per file, see `Bundle.check`)."""
    path = os.fspath(path)
    manifest, raw = _read_manifest(path)
    files = _resolve_files(path, manifest)
    problems: Dict[str, str] = {}
    if verify:
        expected = {manifest["eval"]["file"]: manifest["eval"]["sha256"]}
        expected.update({a["file"]: a["sha256"] for a in manifest["artifacts"]})
        for name, sha in expected.items():
            problem = _file_problem(name, files[name], sha)
            if problem:
                problems[name] = problem
    return Bundle(path, manifest, hashlib.sha256(raw).hexdigest(), files, problems)


def verify_file(bundle: Bundle, entry: Dict[str, Any]) -> str:
    """The file's path, once it exists and its sha256 matches the manifest."""
    return bundle.verified_path(entry)


def load_eval(bundle: Bundle, limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """uint8 NHWC images and int64 labels of the bundled evaluation set, checked against the manifest."""
    entry = bundle.manifest["eval"]
    name = entry["file"]
    path = bundle.verified_path(entry)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("images", "labels") if key not in archive.files]
            if missing:
                raise AgentError(f"evaluation set {name} has no '{missing[0]}' array (it holds "
                                 f"{', '.join(archive.files) or 'nothing'})")
            images, labels = archive["images"], archive["labels"]
    except AgentError:
        raise
    except Exception as exc:  # zipfile, EOF and format errors all mean a corrupt archive
        raise AgentError(f"cannot read the evaluation set {name}: {type(exc).__name__}: {exc}") from None
    _check_eval(bundle.manifest, name, images, labels)
    labels = labels.astype(np.int64)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def _check_eval(manifest: Dict[str, Any], name: str, images: np.ndarray, labels: np.ndarray) -> None:
    preprocess, classes = manifest["preprocess"], len(manifest["class_names"])
    expected_shape = (*preprocess["input_size"], preprocess["channels"])
    if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != expected_shape:
        raise AgentError(f"evaluation set {name}: images are {images.dtype} {list(images.shape)}; the manifest's "
                         f"preprocess asks for uint8 [N, {', '.join(map(str, expected_shape))}]")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise AgentError(f"evaluation set {name}: labels are {labels.dtype} {list(labels.shape)}; expected one "
                         "integer label per image")
    if len(labels) != len(images) or len(images) != manifest["eval"]["count"]:
        raise AgentError(f"evaluation set {name}: {len(images)} images and {len(labels)} labels; eval.count in "
                         f"the manifest says {manifest['eval']['count']}")
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise AgentError(f"evaluation set {name}: labels run from {labels.min()} to {labels.max()}; class_names "
                         f"has {classes} classes (0 to {classes - 1})")


def prepare_inputs(images: np.ndarray, preprocess: Dict[str, Any], layout: str) -> np.ndarray:
    """`(x / scale - mean) / std` in float32 (the host's formula), in the artifact's layout."""
    mean = np.asarray(preprocess["mean"], dtype=np.float32)
    std = np.asarray(preprocess["std"], dtype=np.float32)
    x = (images.astype(np.float32) / np.float32(preprocess.get("scale", 255.0)) - mean) / std
    if layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    elif layout != "NHWC":
        raise AgentError(f"unknown input layout '{layout}': expected NCHW or NHWC")
    return np.ascontiguousarray(x)
