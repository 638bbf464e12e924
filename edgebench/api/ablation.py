"""`edgebench.ablation`: train each variant of an architecture with one recipe; returns an `Ablation` table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from edgebench.ablation import AblationSpec, run_ablation, select_variants
from edgebench.ablation.spec import ARCHES
from edgebench.ablation.table import columns, markdown
from edgebench.api import rules
from edgebench.api.progress import reporting
from edgebench.api.tables import html_table, text_table
from edgebench.train.recipe import AUTO_DEVICE, SCHEDULES, TrainSpec, resolve_device


@dataclass(frozen=True, kw_only=True)
class Ablation:
    """The results folder and one row per variant (parameters, FLOPs, accuracy, drop against `baseline`);
    `smallest` / `cheapest`: the variants named within `max_drop`, when one was given."""

    path: Path
    arch: str
    baseline: str
    rows: Tuple[Dict[str, Any], ...]
    max_drop: Optional[float] = None
    table: Any = field(default=None, repr=False)

    @property
    def smallest(self) -> Optional[str]:
        return self.table.smallest and self.table.smallest["variant"]

    @property
    def cheapest(self) -> Optional[str]:
        return self.table.cheapest and self.table.cheapest["variant"]

    def to_dict(self) -> Dict[str, Any]:
        return {"path": str(self.path), **self.table.as_dict(), "rows": [dict(row) for row in self.rows]}

    def to_markdown(self) -> str:
        return markdown(self.table)

    def _table(self):
        shown = columns(list(self.rows))
        rows = [tuple(_cell(row.get(key)) for key, _ in shown) for row in self.rows]
        return (f"Ablation of {self.arch} (drop against {self.baseline}) at {self.path}",
                tuple(title for _, title in shown), rows)

    def __repr__(self) -> str:
        return text_table(*self._table())

    def _repr_html_(self) -> str:
        return html_table(*self._table())


def ablation(arch: str, data: Any = None, *, variants: Optional[str] = None, epochs: Optional[int] = None,
             batch_size: Optional[int] = None, lr: Optional[float] = None, schedule: str = "onecycle",
             limit: Optional[int] = None, device: str = AUTO_DEVICE, seed: int = 0, baseline: Optional[str] = None,
             max_drop: Optional[float] = None, export: bool = False, out=None, executor: str = "local",
             progress=False) -> Ablation:
    """`edgebench ablation`: train each chosen variant of `arch` ('1,4,6-14', names, or all) and write the
    table (Markdown, CSV, JSON, plots) to `out` (default ablation/ARCH). Run it again to continue a sweep.
    `progress`: see `edgebench.api.progress`; the stage times are in OUT/ablation.json whatever it is."""
    spec = _spec(arch, data, variants, baseline, max_drop, export, executor,
                 dict(schedule=schedule, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
                      limit=limit))
    folder = Path(out or f"ablation/{arch}")
    log, reporter = reporting(progress)
    if spec.train.device == "cpu" and epochs is None:
        log(f"note: {spec.train.epochs} epochs per variant on the CPU takes days for the large variants; "
            "epochs and limit make a smoke run")
    log(f"ablation of {arch}: {len(spec.variants)} variants on {spec.train.device}, {spec.train.epochs} epochs "
        f"each -> {folder}")
    table = run_ablation(spec, folder, log=log, executor=rules.check_executor(executor), progress=reporter)
    return Ablation(path=folder, arch=arch, baseline=table.baseline, rows=tuple(table.rows), max_drop=max_drop,
                    table=table)


def _spec(arch, data, variants, baseline, max_drop, export, executor, options) -> AblationSpec:
    rules.check_choice(arch, ARCHES, "arch")
    max_drop = rules.optional(rules.MAX_DROP, max_drop, "max_drop")
    executor = rules.check_executor(executor)
    rules.check_choice(options["schedule"], SCHEDULES, "schedule")
    for label, rule in (("epochs", rules.POSITIVE_INT), ("batch_size", rules.POSITIVE_INT),
                        ("lr", rules.POSITIVE_FLOAT), ("limit", rules.POSITIVE_INT)):
        rules.optional(rule, options[label], label)
    chosen = select_variants(arch, variants)
    if baseline is not None and str(baseline).isdigit():
        baseline = select_variants(arch, str(baseline))[0]
    device = options.pop("device")
    on_ray_gpu = executor.startswith("ray") and device.startswith("cuda")  # on Ray the GPU is the nodes'
    train = TrainSpec.for_schedule(options["schedule"], epochs=options["epochs"], batch_size=options["batch_size"],
                                   lr=options["lr"], seed=rules.SEED.check(options["seed"], "seed"),
                                   train_limit=options["limit"],
                                   device=device if on_ray_gpu else resolve_device(device, allow_auto=True))
    return AblationSpec(arch=arch, variants=chosen, data=None if data is None else str(data), baseline=baseline,
                        max_drop=max_drop, export=bool(export), train=train)


def _cell(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
