"""`edgebench.demo`: train, export, run and report end to end on the embedded digits; returns a `DemoRun`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

from edgebench.api import rules
from edgebench.api.progress import printer
from edgebench.api.tables import html_table, text_table
from edgebench.demo import DemoSpec, run_demo
from edgebench.fileio import check_replaceable

_DEMO = DemoSpec()


@dataclass(frozen=True, kw_only=True)
class DemoRun:
    """The demo folder and what the demo wrote into it: checkpoint, bundle, results and the report."""

    path: Path
    model: str
    report: Path

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / f"{self.model}.pt"

    @property
    def bundle(self) -> Path:
        return self.path / "bundles" / self.model

    @property
    def results(self) -> Path:
        return self.path / "results"

    def to_dict(self) -> Dict[str, Any]:
        return {"path": str(self.path), "model": self.model, "checkpoint": str(self.checkpoint),
                "bundle": str(self.bundle), "results": str(self.results), "report": str(self.report)}

    def _table(self):
        return f"Demo of {self.model} at {self.path}", ("output", "path"), list(self.to_dict().items())[2:]

    def __repr__(self) -> str:
        return text_table(*self._table())

    def _repr_html_(self) -> str:
        return html_table(*self._table())


def demo(*, out=_DEMO.out, epochs: int = _DEMO.epochs, threads: int = _DEMO.threads, progress=False) -> DemoRun:
    """`edgebench demo`: train resnet8 on the embedded digits, export fp32 + int8, run the agent here and write
    the report, all in `out` (an earlier demo's folder is updated, other folders are refused)."""
    epochs = rules.POSITIVE_INT.check(epochs, "epochs")
    threads = rules.THREADS.check(threads, "threads")
    folder = Path(out)
    check_replaceable(folder, overwrite=True, owned=_is_demo)  # an earlier demo is updated, other files never
    report = run_demo(DemoSpec(epochs=epochs, threads=threads, out=folder), log=printer(progress))
    return DemoRun(path=folder, model=_DEMO.model, report=Path(report))


def _is_demo(folder: Path) -> bool:
    return any((folder / name).exists() for name in ("report.md", "checkpoints", "bundles", "results"))
