"""Reading a bundle: manifest, checksums, the evaluation set, and inputs in each artifact's layout."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from device_agent.errors import AgentError

MANIFEST_FILE = "manifest.json"
MANIFEST_KIND = "edgebench.bundle"
MANIFEST_VERSIONS = (1,)


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Bundle:
    path: str
    manifest: Dict[str, Any]
    manifest_sha256: str

    @property
    def artifacts(self) -> List[Dict[str, Any]]:
        return self.manifest["artifacts"]

    def artifact_path(self, artifact: Dict[str, Any]) -> str:
        return os.path.join(self.path, artifact["file"])


def load_bundle(path: str) -> Bundle:
    manifest_path = os.path.join(path, MANIFEST_FILE)
    if not os.path.isdir(path):
        raise AgentError(f"bundle folder {path} does not exist")
    if not os.path.isfile(manifest_path):
        raise AgentError(f"{path} is not a bundle: {MANIFEST_FILE} is missing")
    try:
        with open(manifest_path, "rb") as handle:
            raw = handle.read()
        manifest = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise AgentError(f"{manifest_path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
        raise AgentError(f"{manifest_path} is not an edgebench bundle manifest")
    if manifest.get("schema_version") not in MANIFEST_VERSIONS:
        raise AgentError(f"manifest schema version {manifest.get('schema_version')} is not supported: this agent "
                         f"reads {', '.join(map(str, MANIFEST_VERSIONS))}; update the agent")
    for key in ("artifacts", "preprocess", "eval"):
        if key not in manifest:
            raise AgentError(f"{manifest_path} has no '{key}' section")
    return Bundle(path, manifest, hashlib.sha256(raw).hexdigest())


def verify_file(bundle: Bundle, entry: Dict[str, Any]) -> str:
    """The file's path, once it exists and its sha256 matches the manifest."""
    path = os.path.join(bundle.path, entry["file"])
    if not os.path.isfile(path):
        raise AgentError(f"{entry['file']} is missing from the bundle")
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise AgentError(f"{entry['file']} has sha256 {actual[:12]}..., the manifest says {entry['sha256'][:12]}...: "
                         "the file is corrupt or was changed; copy the bundle again")
    return path


def load_eval(bundle: Bundle, limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """uint8 NHWC images and int64 labels of the bundled evaluation set."""
    entry = bundle.manifest["eval"]
    path = verify_file(bundle, entry)
    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise AgentError(f"cannot read the evaluation set {entry['file']}: {exc}") from None
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(labels):
        raise AgentError(f"evaluation set {entry['file']} holds {images.dtype} {images.shape} images and "
                         f"{len(labels)} labels; expected uint8 [N, H, W, C] and N labels")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels


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
