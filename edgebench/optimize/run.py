"""`edgebench optimize`: the host stage, then the device stages, then the answer, always written.

The device is reached (its fingerprint read) before anything is exported; every export lands in the content
cache; every device measurement in the result cache; the report and the best artifact so far are written however
the run ends (the answer, Ctrl-C, a dropped connection, a crash).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from edgebench.devices.measure import open_device
from edgebench.errors import BadOptionError, EdgebenchError, WriteError
from edgebench.fileio import Terminated
from edgebench.optimize.answer import write_outputs
from edgebench.optimize.bundles import candidates_bundle
from edgebench.optimize.host import ModelInput
from edgebench.optimize.hoststage import host_stage
from edgebench.optimize.journal import Journal
from edgebench.optimize.ledger import Ledger
from edgebench.optimize.search import Decision, Search, SearchSpec
from edgebench.optimize.sources import PruneAxis, Source, VariantsAxis, plan_sources
from edgebench.optimize.space import OBJECTIVES, Space

DEFAULT_BUDGET_S = 1800.0


@dataclass(frozen=True, kw_only=True)
class OptimizeSpec:
    source: ModelInput
    device: str = "local"
    devices_file: Optional[str] = None
    max_drop: float = 1.0
    objective: str = "latency"
    budget_s: float = DEFAULT_BUDGET_S
    stop_first: bool = False
    space: Space = field(default_factory=Space)
    out: Path = Path("optimize")
    executor: str = "local"  # where the host exports run: local, process:N, ray[:ADDRESS]
    prune: Optional[PruneAxis] = None  # --prune: MODEL's channel-pruned copies are sources too
    variants: Optional[VariantsAxis] = None  # --variants: the study's variants are the sources

    def __post_init__(self):
        if not (isinstance(self.max_drop, (int, float)) and math.isfinite(self.max_drop) and self.max_drop >= 0):
            raise EdgebenchError(f"--max-drop {self.max_drop} is out of range: give the accuracy points the answer "
                                 "may lose against fp32, a finite number of 0 or more (e.g. 1)")
        if not (math.isfinite(self.budget_s) and self.budget_s >= 0):
            raise EdgebenchError(f"--device-budget {self.budget_s:g} s is out of range: give 0 or more, e.g. 30m")
        if self.objective not in OBJECTIVES:
            raise EdgebenchError(f"unknown objective '{self.objective}': choose from {', '.join(OBJECTIVES)}")
        self._check_axes()

    def _check_axes(self) -> None:
        if self.prune is not None and self.variants is not None:
            raise BadOptionError("--prune and --variants do not go together: search MODEL's pruned copies, or the "
                                 "study's variants")
        if self.prune is not None and not self.source.data:
            raise BadOptionError("--prune needs --data: the data set the pruned models are fine-tuned on and "
                                 "measured with (e.g. --data digits)")
        if self.prune is not None and not self.source.checkpoint:
            raise BadOptionError(f"--prune needs --checkpoint: a trained checkpoint of {self.source.model} to prune")
        if self.variants is not None and self.source.checkpoint:
            raise BadOptionError("--checkpoint does not go with --variants: each variant's checkpoint comes from "
                                 "--variants-from")

    @property
    def label(self) -> str:
        """MODEL as the tables name it."""
        model = self.source.model
        return Path(model).stem if model.endswith(".onnx") else model

    def sources(self) -> List[Source]:
        """The models the candidates are made from, the reference first."""
        return plan_sources(self.source, self.label, self.prune, self.variants)

    def identity(self) -> Dict:
        """What makes two runs the same run (the budget is not: a re-run may be given more device time)."""
        facts = {"model": self.source.identity(), "device": self.device, "max_drop": self.max_drop,
                 "objective": self.objective, "stop_first": self.stop_first, "space": self.space.to_json()}
        if self.prune is not None:  # only when asked: a journal from before these axes stays the same run
            facts["prune"] = self.prune.to_json()
        if self.variants is not None:
            facts["variants"] = self.variants.to_json()
        return facts


@dataclass(frozen=True, kw_only=True)
class Outcome:
    report: Dict
    answer_line: str
    interrupted: Optional[BaseException] = None


def run_optimize(spec: OptimizeSpec, progress) -> Outcome:
    Journal.check(spec.out, spec.identity())  # another run's folder is refused before the device is asked
    device = open_device(spec.device, spec.devices_file)
    with progress.stage("device check"):
        fingerprint = device.fingerprint()  # an unreachable device fails here, before any export
    journal = Journal.open(spec.out, spec.identity())
    started = time.perf_counter()
    with progress.stage("host"):
        entries, sources, rows = host_stage(spec, journal, progress)
    return device_stages(spec, journal, device, fingerprint, entries, sources, progress, started, rows)


def device_stages(spec: OptimizeSpec, journal, device, fingerprint: Dict, entries: Dict[str, Dict],
                  sources: Dict[str, Dict], progress, started: float, rows: Optional[List[Dict]] = None) -> Outcome:
    bundle = candidates_bundle(journal.folder / "candidates", entries, sources)
    count = next(iter(sources.values()))["manifest"]["eval"]["count"]
    ledger = Ledger(device=device, bundle=bundle, cache=journal.device_cache, budget_s=spec.budget_s,
                    shas={n: e["sha256"] for n, e in entries.items() if e["sha256"]}, eval_count=count,
                    log=progress.note, fingerprint=fingerprint)
    search = Search(entries=entries, space=spec.space, ledger=ledger, log=progress.note,
                    spec=SearchSpec(objective=spec.objective, max_drop=spec.max_drop, stop_first=spec.stop_first))
    decision: Optional[Decision] = None
    stopped, interrupted = None, None
    try:
        with progress.stage("device"):
            decision = search.run()
    except (KeyboardInterrupt, Terminated) as exc:
        stopped, interrupted = "interrupted", exc
    except WriteError:  # a full disk on the host: nothing more can be written, the journal keeps what was done
        raise
    except EdgebenchError as exc:  # a dropped connection or a device that went away
        stopped = f"the device failed: {exc}"
    if decision is None:
        decision = search.best_so_far()
    search.close(stopped)
    report = write_outputs(spec=spec, journal=journal, entries=entries, sources=sources, decision=decision,
                           ledger=ledger, fingerprint=fingerprint, stopped=stopped,
                           stages=progress.records(), wall_s=time.perf_counter() - started, source_rows=rows)
    return Outcome(report=report, answer_line=report["answer"], interrupted=interrupted)


def parse_budget(text: str) -> float:
    """`30m`, `90s`, `1h`, `45` (seconds): seconds, or an EdgebenchError naming the value."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    raw = str(text).strip().lower()
    number, unit = (raw[:-1], raw[-1]) if raw and raw[-1] in units else (raw, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        seconds = float("nan")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise EdgebenchError(f"--device-budget '{text}' is not a duration: give seconds, minutes or hours of 0 or "
                             "more, e.g. 90s, 30m, 1h")
    return seconds

