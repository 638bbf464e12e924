"""The bundle manifest: the versioned contract between the host and the device agent."""

from __future__ import annotations

import gzip
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

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


_GZIP_POOL: Optional[ThreadPoolExecutor] = None


def file_facts(path: Path, *, defer_gzip: bool = False) -> Dict[str, Any]:
    """Name, sha256, size and gzip-compressed size. Compressing is most of the cost (8 s for a 170 MB ResNet-101
    at level 6, whatever the level: float weights barely compress): with `defer_gzip` it runs on a worker
    thread (zlib releases the GIL) while the export goes on, and `gzip_bytes` is a future until
    `resolve_facts` is called on the entries."""
    global _GZIP_POOL
    data = path.read_bytes()
    if defer_gzip:
        if _GZIP_POOL is None:
            _GZIP_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgebench-gzip")
        gzip_bytes: Any = _GZIP_POOL.submit(_gzip_size, data)
    else:
        gzip_bytes = _gzip_size(data)
    return {"file": path.name, "sha256": sha256_file(path), "bytes": len(data), "gzip_bytes": gzip_bytes}


def resolve_facts(entries: Iterable[Dict[str, Any]]) -> None:
    """Wait for every deferred `gzip_bytes` in `entries` and put its value in place."""
    for entry in entries:
        if isinstance(entry.get("gzip_bytes"), Future):
            entry["gzip_bytes"] = entry["gzip_bytes"].result()


def _gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6, mtime=0))


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
