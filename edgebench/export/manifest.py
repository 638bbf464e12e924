"""The bundle manifest: the versioned contract between the host and the device agent."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, Dict

from device_agent.bundle import MANIFEST_FILE, MANIFEST_KIND  # noqa: F401  (the contract's names, re-exported)
from device_agent.bundle import load_bundle, read_manifest_document  # the one reader of a bundle
from device_agent.errors import AgentError
from device_agent.schema import load_schema
from edgebench.errors import EdgebenchError
from edgebench.fileio import sha256_file

MANIFEST_VERSION = 1


def schema(name: str) -> Dict[str, Any]:
    """A JSON Schema shipped with the agent (`manifest` or `result`), as the agent loads it (format enums from the
    contract table)."""
    return load_schema(name)


def validate(document: Dict[str, Any], name: str, where: str) -> None:
    import jsonschema  # the host extra's validator: imported where a document is validated

    try:
        jsonschema.validate(document, schema(name))
    except jsonschema.ValidationError as exc:
        location = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise EdgebenchError(f"{where} does not follow the {name} schema at {location}: {exc.message[:200]}") from None


def file_facts(path: Path) -> Dict[str, Any]:
    data = path.read_bytes()
    return {"file": path.name, "sha256": sha256_file(path), "bytes": len(data),
            "gzip_bytes": len(gzip.compress(data, compresslevel=6, mtime=0))}


def read_manifest(bundle: Path, *, verify: bool = True) -> Dict[str, Any]:
    """A bundle's manifest, read the way the device agent reads it (the one reader of the contract): schema,
    every path inside the bundle, and with `verify` every file's checksum."""
    try:
        loaded = load_bundle(str(bundle), verify=verify)
        if verify:
            loaded.check()
    except AgentError as exc:
        raise EdgebenchError(str(exc)) from None
    return loaded.manifest


def is_bundle(path: Path) -> bool:
    """A folder edgebench wrote: the only kind of folder `--force` may replace."""
    if Path(path).is_symlink():
        return False
    try:
        read_manifest_document(str(path))  # the bundle reader's first step: a manifest of the bundle kind
    except AgentError:
        return False
    return True
