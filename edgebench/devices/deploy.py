"""Copy what changed to the device and verify it arrived intact (sha256 on both ends)."""

from __future__ import annotations

import inspect
import json
import posixpath
from pathlib import Path
from typing import Dict, List, Tuple

from edgebench.devices.remote import Remote, quote
from edgebench.errors import EdgebenchError
from device_agent.fileio import sha256_file

# Runs on the device with its own Python: sha256 of every file below a folder, as JSON. The checksum is the
# agent's own `sha256_file`, sent as its source (the agent may not be on the device yet).
LIST_HASHES = "import hashlib, json, os, sys\n" + inspect.getsource(sha256_file) + """
root = sys.argv[1]
out = {}
if os.path.isdir(root):
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            path = os.path.join(base, name)
            out[os.path.relpath(path, root).replace(os.sep, "/")] = sha256_file(path)
print(json.dumps(out))
"""


def local_files(folder: Path) -> Dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")}


def remote_hashes(remote: Remote, python: str, folder: str) -> Dict[str, str]:
    done = remote.run(f"{python} - {quote(folder)}", input_text=LIST_HASHES)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise EdgebenchError(f"{remote.device.name}: could not list {folder} ({done.stdout.strip()[:100]})") from None


def sync(remote: Remote, python: str, source: Path, target: str) -> Tuple[int, int]:
    """Make `target` on the device hold `source`'s files; returns (files copied, bytes copied)."""
    files = local_files(source)
    wanted = {rel: sha256_file(path) for rel, path in files.items()}
    present = remote_hashes(remote, python, target)
    changed: List[str] = [rel for rel, digest in wanted.items() if present.get(rel) != digest]
    if changed:
        folders = sorted({posixpath.dirname(posixpath.join(target, rel)) for rel in changed})
        remote.run("mkdir -p " + " ".join(quote(f) for f in folders))
        by_folder: Dict[str, List[str]] = {}
        for rel in changed:
            by_folder.setdefault(posixpath.dirname(posixpath.join(target, rel)), []).append(str(files[rel]))
        for folder, paths in by_folder.items():
            remote.copy_to(paths, folder + "/")
        arrived = remote_hashes(remote, python, target)
        broken = [rel for rel in changed if arrived.get(rel) != wanted[rel]]
        if broken:
            raise EdgebenchError(f"{remote.device.name}: {broken[0]} arrived with a different sha256; copy again")
    return len(changed), sum(files[rel].stat().st_size for rel in changed)
