"""The bundles the search hands to the device: every surviving candidate in one bundle (one copy, measured in
interleaved rounds, nothing re-copied between stages) and, at the end, the winner alone, ready to ship."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List

from edgebench.export.manifest import MANIFEST_FILE, is_bundle
from edgebench.export.pipeline import EVAL_FILE
from edgebench.export.spec import FORMATS, Format
from edgebench.fileio import atomic_dir, write_json

def artifact_file(name: str, fmt: str) -> str:
    """Artifacts are renamed after their candidate: `onnx-int8` and `onnx-int8-mix` are both int8 ONNX."""
    return f"{name}{FORMATS[Format(fmt)].suffix}"


def write_bundle(out: Path, base_manifest: Dict, members: List[Dict], eval_from: Path, extra: Dict = None) -> Path:
    """A bundle at `out` holding `members` (each {"name", "source": folder, "artifact": manifest entry})."""
    with atomic_dir(out, overwrite=True, owned=is_bundle) as work:
        artifacts = []
        for member in members:
            entry = dict(member["artifact"])
            target = artifact_file(member["name"], entry["format"])
            shutil.copyfile(Path(member["source"]) / entry["file"], work / target)
            artifacts.append(dict(entry, name=member["name"], file=target))
        shutil.copyfile(eval_from / EVAL_FILE, work / EVAL_FILE)
        # The probes stay out: the search compares candidates, not the device's peak (the agent would time the
        # probes once per run, about 1.5 s each on this machine's stages), and their files are not copied.
        manifest = {k: v for k, v in dict(base_manifest, artifacts=artifacts, rejected=[], **(extra or {})).items()
                    if k != "probes"}
        write_json(work / MANIFEST_FILE, manifest)
    return out


def candidates_bundle(out: Path, entries: Dict[str, Dict], sources: Dict[str, Dict]) -> Path:
    """Every candidate still in the search, one bundle; `sources` maps a name to {"folder", "artifact",
    "manifest"} from the host stage."""
    names = [n for n, e in entries.items() if e["reason"] is None and n in sources]
    first = sources[names[0]]
    members = [{"name": n, "source": sources[n]["folder"], "artifact": sources[n]["artifact"]} for n in names]
    return write_bundle(out, first["manifest"], members, Path(first["folder"]))


def winner_bundle(out: Path, name: str, source: Dict, setting: Dict = None) -> Path:
    """The winning artifact alone, with the setting it won with recorded in the manifest."""
    member = {"name": name, "source": source["folder"], "artifact": source["artifact"]}
    extra = {"optimize": {"winner": name, "setting": setting}} if setting is not None else None
    return write_bundle(out, source["manifest"], [member], Path(source["folder"]), extra)
