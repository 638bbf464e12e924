"""`Result`: what `edgebench.bench` returns; one result JSON of the device agent, read through report's reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from edgebench.api.tables import html_table, text_table
from edgebench.report import load_results


@dataclass(frozen=True, kw_only=True)
class Run:
    """One configuration measured on the device: an artifact under one setting (threads, ...)."""

    config: str
    artifact: str
    setting: Dict[str, Any]
    p50_ms: Optional[float]
    p50_ci95: Optional[Tuple[float, float]]
    stability: Optional[str]
    peak_rss_mb: Optional[float]
    accuracy: Optional[float]  # top-1 in [0, 1] on the bundled images
    error: Optional[str]
    document: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_document(cls, run: Dict[str, Any]) -> "Run":
        latency = run.get("latency_ms") or {}
        ci = latency.get("p50_ci95")
        return cls(config=str(run.get("config") or run["artifact"]), artifact=run["artifact"],
                   setting=dict(run.get("setting") or {}), p50_ms=latency.get("p50"),
                   p50_ci95=tuple(ci) if ci else None, stability=(run.get("stability") or {}).get("verdict"),
                   peak_rss_mb=(run.get("memory") or {}).get("peak_rss_mb"),
                   accuracy=(run.get("accuracy") or {}).get("top1"), error=run.get("error"), document=run)

    def to_dict(self) -> Dict[str, Any]:
        return {"config": self.config, "artifact": self.artifact, "setting": self.setting, "p50_ms": self.p50_ms,
                "p50_ci95": list(self.p50_ci95) if self.p50_ci95 else None, "stability": self.stability,
                "peak_rss_mb": self.peak_rss_mb, "accuracy": self.accuracy, "error": self.error}


@dataclass(frozen=True, kw_only=True)
class Result:
    """A device result: its runs with latency intervals, memory and accuracy, and the device's facts."""

    path: Optional[Path]
    document: Dict[str, Any] = field(repr=False)

    @classmethod
    def load(cls, path) -> "Result":
        """Read and check one result file (schema, kind, version) with the report's reader."""
        loaded = load_results([str(path)])[0]
        return cls(path=loaded.path, document=loaded.document)

    @property
    def device(self) -> Dict[str, Any]:
        return self.document["device"]

    @property
    def runs(self) -> Tuple[Run, ...]:
        return tuple(Run.from_document(run) for run in self.document["runs"])

    @property
    def complete(self) -> bool:
        return bool(self.document.get("complete"))

    def to_dict(self) -> Dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "device": self.device.get("name"),
                "complete": self.complete, "runs": [run.to_dict() for run in self.runs]}

    def _table(self):
        rows = [(r.config, r.p50_ms, f"[{r.p50_ci95[0]:.4g}, {r.p50_ci95[1]:.4g}]" if r.p50_ci95 else None,
                 r.stability, r.peak_rss_mb, None if r.accuracy is None else round(100 * r.accuracy, 2),
                 r.error) for r in self.runs]
        title = f"Result on {self.device.get('name')} ({self.device.get('machine')})" + \
            (f" at {self.path}" if self.path else "")
        return title, ("config", "p50 ms", "95 % interval", "stability", "peak RSS MB", "accuracy %", "error"), rows

    def __repr__(self) -> str:
        return text_table(*self._table())

    def _repr_html_(self) -> str:
        return html_table(*self._table())
