"""The `--out` folder's journal: which run it holds (refusing another run's settings, naming the difference, as
`ablation` does), the export cache and the device-result cache that make a re-run free and an interrupted run
continue where it stopped."""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from edgebench.errors import EdgebenchError
from edgebench.fileio import os_errors_named, write_json

JOURNAL_FILE = "journal.json"
JOURNAL_KIND = "edgebench.optimize.journal"
JOURNAL_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Journal:
    folder: Path
    identity: Dict

    @property
    def exports(self) -> Path:
        return self.folder / "cache" / "exports"

    @property
    def device_cache(self) -> Path:
        return self.folder / "cache" / "device"

    @staticmethod
    def check(folder: Path, identity: Dict) -> bool:
        """True when `folder` holds this run's journal, False when it is new or empty; refused otherwise."""
        folder = Path(folder)
        path = folder / JOURNAL_FILE
        if path.is_file():
            recorded = _read(path)
            difference = first_difference(recorded.get("identity"), json.loads(json.dumps(identity)))
            if difference:
                raise EdgebenchError(f"{folder} holds an optimize run with other settings ({difference}): use "
                                     "another --out, or the same settings to continue it")
            return True
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise EdgebenchError(f"{folder} exists and holds no optimize run: choose a new or empty --out folder")
        return False

    @classmethod
    def open(cls, folder: Path, identity: Dict) -> "Journal":
        """The folder's journal, created when the folder is new or empty; refused when it holds something else."""
        folder = Path(folder)
        path = folder / JOURNAL_FILE
        if not cls.check(folder, identity):
            created = not folder.exists()
            with os_errors_named(folder):
                folder.mkdir(parents=True, exist_ok=True)
            try:
                write_json(path, {"kind": JOURNAL_KIND, "version": JOURNAL_VERSION, "identity": identity,
                                  "runs": []})
            except EdgebenchError:  # a full disk or a refused write: the folder made for it goes too
                if created:
                    shutil.rmtree(folder, ignore_errors=True)
                raise
        return cls(folder=folder, identity=identity)

    def record_run(self, entry: Dict) -> None:
        """Append one finished (or stopped) run: when, how it ended, the device seconds it spent."""
        path = self.folder / JOURNAL_FILE
        journal = _read(path)
        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        journal.setdefault("runs", []).append(dict(entry, finished_utc=stamp))
        write_json(path, journal)

    def runs(self) -> List[Dict]:
        return _read(self.folder / JOURNAL_FILE).get("runs", [])


def _read(path: Path) -> Dict:
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise EdgebenchError(f"{path} is not a readable optimize journal: choose another --out") from None
    if not isinstance(journal, dict) or journal.get("kind") != JOURNAL_KIND:
        raise EdgebenchError(f"{path} is not an optimize journal: choose another --out")
    return journal


def first_difference(theirs, ours, where: str = "") -> Optional[str]:
    """`max_drop 1.0 there, 2.0 here` for the first key whose value differs, else None."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in list(dict.fromkeys([*theirs, *ours])):
            found = first_difference(theirs.get(key), ours.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    if theirs != ours:
        return f"{where or 'settings'} {json.dumps(theirs)} there, {json.dumps(ours)} here"
    return None
