"""`edgebench.prune`: prune a trained checkpoint step by step with fine-tuning; returns a `PruneRun`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from edgebench.api import rules
from edgebench.api.inputs import data_path
from edgebench.api.progress import reporting
from edgebench.api.tables import html_table, text_table
from edgebench.errors import BadInputError
from edgebench.fileio import check_replaceable
from edgebench.prune.pipeline import is_prune_output, prune_checkpoint
from edgebench.prune.spec import PruneSpec
from edgebench.train import load_checkpoint


@dataclass(frozen=True, kw_only=True)
class PruneRun:
    """The folder of a pruning run and one row per iteration (0 = the unpruned checkpoint)."""

    path: Path
    rows: Tuple[Dict[str, Any], ...]

    def to_dict(self) -> Dict[str, Any]:
        return {"path": str(self.path), "iterations": [dict(row) for row in self.rows]}

    def _table(self):
        rows = [(r["iteration"], round(100 * r["achieved"], 2), r["params"], round(r["macs"] / 1e6, 3),
                 round(100 * r["accuracy"], 2), Path(r["file"]).name) for r in self.rows]
        return f"Pruning run at {self.path}", ("it", "pruned %", "params", "MMACs", "accuracy %", "checkpoint"), rows

    def __repr__(self) -> str:
        return text_table(*self._table())

    def _repr_html_(self) -> str:
        return html_table(*self._table())


def prune(model: str, checkpoint, data: Any = None, *, method: Optional[str] = None, importance: Optional[str] = None,
          amount: Optional[float] = None, iterations: Optional[int] = None, sparsity: Optional[float] = None,
          finetune_epochs: Optional[int] = None, lr: Optional[float] = None, limit: Optional[int] = None,
          seed: int = 0, out=None, force: bool = False, progress=False) -> PruneRun:
    """Prune `checkpoint` (of zoo model `model`; a path or a `Trained`) and fine-tune after each step; one
    checkpoint per iteration in `out` (default pruned/MODEL). Unset options take `PruneSpec`'s defaults (the
    study's: unstructured, L1 importance, 20 % of the remaining weights per step, 10 steps). `progress`: see
    `edgebench.api.progress`; the stage times are in OUT/pruning.json whatever it is."""
    given = {"method": method, "importance": importance, "amount": amount, "iterations": iterations,
             "target": sparsity, "finetune_epochs": finetune_epochs, "lr": lr, "train_limit": limit,
             "seed": rules.SEED.check(seed, "seed")}
    spec = PruneSpec(**{key: value for key, value in given.items() if value is not None})
    checkpoint = str(getattr(checkpoint, "path", checkpoint))
    target = Path(out or f"pruned/{model}")
    check_replaceable(target, overwrite=force, owned=is_prune_output)  # before any work
    held = load_checkpoint(checkpoint).model_name
    if held != model:
        raise BadInputError(f"checkpoint {checkpoint} holds '{held}', not '{model}'")
    log, reporter = reporting(progress)
    with data_path(data) as data_ref:
        rows = prune_checkpoint(checkpoint, data_ref, spec, target, log=log, overwrite=force, progress=reporter)
    return PruneRun(path=target, rows=tuple(rows))
