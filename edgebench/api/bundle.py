"""`Bundle`: what `edgebench.export` returns; a bundle folder read through the one manifest reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from edgebench.api.tables import html_table, text_table
from edgebench.errors import UnknownNameError
from edgebench.export.manifest import read_manifest


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """One artifact that passed its parity gate: its file and the export check's figures."""

    name: str
    format: str
    precision: str
    path: Path
    bytes: int
    gzip_bytes: int
    check: Dict[str, Any] = field(repr=False)
    quantization: Optional[Dict[str, Any]] = field(default=None, repr=False)

    @property
    def top1_agreement(self) -> Optional[float]:
        return self.check.get("top1_agreement")

    @property
    def accuracy(self) -> Optional[float]:
        return self.check.get("accuracy")

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "format": self.format, "precision": self.precision, "path": str(self.path),
                "bytes": self.bytes, "gzip_bytes": self.gzip_bytes, "check": self.check,
                "quantization": self.quantization}


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """A bundle folder: its manifest, the artifacts it holds and the ones refused at export, with reasons."""

    path: Path
    manifest: Dict[str, Any] = field(repr=False)

    @classmethod
    def load(cls, path, *, verify: bool = True) -> "Bundle":
        """Read a bundle the way the device agent reads it (schema, paths, and with `verify` checksums)."""
        return cls(path=Path(path), manifest=read_manifest(Path(path), verify=verify))

    @property
    def model(self) -> str:
        return self.manifest["model"]["name"]

    @property
    def artifacts(self) -> Tuple[Artifact, ...]:
        return tuple(Artifact(name=a["name"], format=a["format"], precision=a["precision"],
                              path=self.path / a["file"], bytes=a["bytes"], gzip_bytes=a["gzip_bytes"],
                              check=a["check"], quantization=a.get("quantization"))
                     for a in self.manifest["artifacts"])

    @property
    def rejected(self) -> Tuple[Dict[str, Any], ...]:
        """Artifacts refused at export: name, format, precision, reason (and figures where measured)."""
        return tuple(self.manifest.get("rejected") or ())

    def __getitem__(self, name: str) -> Artifact:
        for artifact in self.artifacts:
            if artifact.name == name:
                return artifact

        raise UnknownNameError("artifact", name, [a.name for a in self.artifacts])

    def to_dict(self) -> Dict[str, Any]:
        return {"path": str(self.path), "model": self.model, "artifacts": [a.to_dict() for a in self.artifacts],
                "rejected": [dict(entry) for entry in self.rejected]}

    def _table(self):
        rows = [(a.name, round(a.bytes / 2**20, 3), _pct(a.top1_agreement), _pct(a.accuracy), "ok")
                for a in self.artifacts]
        rows += [(r["name"], None, None, None, f"refused: {r.get('reason', '')}") for r in self.rejected]
        return (f"Bundle {self.model} at {self.path}", ("artifact", "MiB", "agreement %", "accuracy %", "gate"),
                rows)

    def __repr__(self) -> str:
        return text_table(*self._table())

    def _repr_html_(self) -> str:
        return html_table(*self._table())


def _pct(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(100 * value, 2)
