"""`edgebench.prune_study`: for each iteration of a `prune` run, export fp32 + int8, measure here, tabulate."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from edgebench.api import rules
from edgebench.api.progress import reporting
from edgebench.api.tables import html_table, text_table
from edgebench.fileio import check_replaceable, is_edgebench_output
from edgebench.prune.pipeline import read_summary
from edgebench.prune.study import COLUMNS, answer_dict, markdown, run_study, study_answer


@dataclass(frozen=True, kw_only=True)
class PruneStudy:
    """The study folder and one row per pruning iteration (sparsity, accuracy, sizes, latency); `answer`: the
    smallest and fastest artifact within `max_drop` when one was given."""

    path: Path
    rows: Tuple[Dict[str, Any], ...]
    max_drop: Optional[float] = None
    answer: Any = field(default=None, repr=False)

    def to_dict(self) -> Dict[str, Any]:
        return {"path": str(self.path), "max_drop": self.max_drop, "rows": [dict(row) for row in self.rows],
                "budget": answer_dict(self.answer)}

    def to_markdown(self) -> str:
        return markdown(list(self.rows), self.answer)

    def _table(self):
        rows = [tuple(row.get(key) for key, _ in COLUMNS) for row in self.rows]
        return f"Pruning study at {self.path}", tuple(title for _, title in COLUMNS), rows

    def __repr__(self) -> str:
        return text_table(*self._table())

    def _repr_html_(self) -> str:
        return html_table(*self._table())


def prune_study(folder, *, out=None, threads: int = 1, min_seconds: float = 1.0, max_drop: Optional[float] = None,
                executor: str = "local", progress=False) -> PruneStudy:
    """`edgebench prune-study`: export each iteration of the `prune` run in `folder` (a path or a `PruneRun`)
    to fp32 + int8 on `executor`, time it here one at a time, and write the table, CSV, JSON and plot to `out`
    (default FOLDER/study; an earlier study there is updated). `progress`: see `edgebench.api.progress`; the
    stage times are in OUT/pruning-study.json whatever it is."""
    rules.THREADS.check(threads, "threads")
    rules.POSITIVE_FLOAT.check(min_seconds, "min_seconds")
    max_drop = rules.optional(rules.MAX_DROP, max_drop, "max_drop")
    executor = rules.check_executor(executor)
    folder = Path(getattr(folder, "path", folder))
    read_summary(folder)  # a missing or foreign summary is refused before anything is written
    target = Path(out or folder / "study")
    check_replaceable(target, overwrite=True, owned=_is_study)  # an earlier study is updated, other files never
    log, reporter = reporting(progress)
    rows = run_study(folder, target, threads=threads, min_seconds=min_seconds, max_drop=max_drop,
                     log=log, executor=executor, progress=reporter)
    answer = study_answer(rows, max_drop) if max_drop is not None else None
    return PruneStudy(path=target, rows=tuple(rows), max_drop=max_drop, answer=answer)


def _is_study(folder: Path) -> bool:
    return is_edgebench_output(folder) or any((folder / name).is_dir() for name in ("bundles", "results"))
