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
from typing import Dict, Optional, Tuple

from edgebench.devices.measure import open_device
from edgebench.errors import EdgebenchError
from edgebench.executor import make_executor
from edgebench.fileio import Terminated
from edgebench.optimize.answer import write_outputs
from edgebench.optimize.bundles import candidates_bundle
from edgebench.optimize.host import (ExportOutcome, ExportTask, ModelInput, export_group, group_entries,
                                     host_accuracy)
from edgebench.optimize.journal import Journal
from edgebench.optimize.ledger import Ledger
from edgebench.optimize.search import Decision, Search, SearchSpec
from edgebench.optimize.space import OBJECTIVES, Space, export_groups

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

    def __post_init__(self):
        if not (isinstance(self.max_drop, (int, float)) and math.isfinite(self.max_drop) and self.max_drop >= 0):
            raise EdgebenchError(f"--max-drop {self.max_drop} is out of range: give the accuracy points the answer "
                                 "may lose against fp32, a finite number of 0 or more (e.g. 1)")
        if not (math.isfinite(self.budget_s) and self.budget_s >= 0):
            raise EdgebenchError(f"--device-budget {self.budget_s:g} s is out of range: give 0 or more, e.g. 30m")
        if self.objective not in OBJECTIVES:
            raise EdgebenchError(f"unknown objective '{self.objective}': choose from {', '.join(OBJECTIVES)}")

    def identity(self) -> Dict:
        """What makes two runs the same run (the budget is not: a re-run may be given more device time)."""
        return {"model": self.source.identity(), "device": self.device, "max_drop": self.max_drop,
                "objective": self.objective, "stop_first": self.stop_first, "space": self.space.to_json()}


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
        entries, sources = host_stage(spec, journal, progress)
    return device_stages(spec, journal, device, fingerprint, entries, sources, progress, started)


def host_stage(spec: OptimizeSpec, journal: "Journal", progress) -> Tuple[Dict[str, Dict], Dict[str, Dict]]:
    """Every candidate's record after the host stage, and where each kept artifact lies."""
    candidates = spec.space.candidates()
    if spec.max_drop == 0:  # the mix would keep every layer in float: it is fp32
        candidates = [c for c in candidates if c.precision != "int8-mix"]
    groups = export_groups(candidates)
    tasks = [ExportTask(source=spec.source, format=fmt, mixed=mixed, precisions=precisions,
                        max_drop=spec.max_drop or None, cache=journal.exports) for fmt, mixed, precisions in groups]
    outcomes = run_exports(tasks, spec.executor, progress)
    entries, sources = {}, {}
    for candidate in candidates:
        outcome = outcomes[(candidate.format, candidate.precision == "int8-mix")]
        entry = {"name": candidate.name, "format": candidate.format, "precision": candidate.precision,
                 "is_reference": candidate.is_reference, "reason": None, "detail": "", "bytes": None,
                 "sha256": None, "host": {}}
        entries[candidate.name] = entry
        if outcome.error is not None:
            entry.update(reason="export-refused", detail=outcome.error)
            continue
        found = group_entries(outcome, candidate.format, [candidate.export_precision]).get(candidate.export_precision)
        judge_host(entry, found, outcome, sources, spec.max_drop, entries)
    if entries["onnx-fp32"]["reason"] is not None:
        raise EdgebenchError(f"the fp32 ONNX reference could not be made: {entries['onnx-fp32']['detail']}")
    return entries, sources


def run_exports(tasks, executor: str, progress) -> Dict[Tuple[str, bool], ExportOutcome]:
    """Each export task through the executor; a task that failed refuses its group's candidates."""
    outcomes = {}
    names = [f"{t.format}{'-mix' if t.mixed else ''}" for t in tasks]
    with make_executor(executor) as running, progress.counter(total=len(tasks), desc="host exports") as advance:
        for done in running.map(export_group, tasks, names=names, cpus=1):
            task = tasks[done.index]
            outcome = done.value if done.error is None else ExportOutcome(
                folder=None, manifest=None, error=done.error, cached=False, seconds=done.seconds)
            outcomes[(task.format, task.mixed)] = outcome
            progress.note(f"export {done.name}: {'cached' if outcome.cached else outcome.error or 'written'}")
            advance()
    return outcomes


def judge_host(entry: Dict, found: Optional[Dict], outcome, sources: Dict, max_drop: float,
               entries: Dict[str, Dict]) -> None:
    if found is None:
        entry.update(reason="export-refused", detail="the export wrote no such artifact")
        return
    if not found["kept"]:
        divergence = found.get("divergence") or {}
        where = f" (first diverging layer: {divergence.get('node')})" if divergence.get("node") else ""
        entry.update(reason="export-refused", detail=f"{found.get('reason', 'refused by the gate')}{where}")
        return
    accuracy, drop, measure = host_accuracy(found)
    check = found.get("check") or {}
    reference = 100.0 * check["reference_accuracy"] if check.get("reference_accuracy") is not None else None
    entry.update(bytes=found["bytes"], sha256=found["sha256"], quantization=_mix_summary(found),
                 host={"accuracy": accuracy, "reference_accuracy": reference, "drop_pp": drop, "measured_as": measure,
                       "count": check.get("count"), "export_seconds": found.get("export_seconds"),
                       "cached": outcome.cached})
    sources[entry["name"]] = {"folder": str(outcome.folder), "artifact": found, "manifest": outcome.manifest}
    twin = next((e for e in entries.values() if e is not entry and e.get("sha256") == found["sha256"]), None)
    if twin is not None:
        entry.update(reason="duplicate", detail=f"the same artifact as {twin['name']} (sha256 "
                                                f"{found['sha256'][:12]}...)")
    elif not entry["is_reference"] and drop is not None and drop > max_drop + 1e-9:
        entry.update(reason="accuracy-drop", detail=f"-{drop:g} pp on the host ({measure}; budget {max_drop:g})")


def _mix_summary(found: Dict) -> Optional[Dict]:
    """How many layers the int8 artifact keeps in float, where the manifest says."""
    quantization = found.get("quantization") or {}
    mixed = quantization.get("mixed_precision") or {}
    for value in (quantization, mixed.get("chosen") or {}, quantization.get("mixed") or {}):
        if isinstance(value, dict) and "float_layers" in value:
            layers = value["float_layers"]
            count = len(layers) if isinstance(layers, list) else layers
            return {"float_layers": count, "quantizable_layers": value.get("quantizable_layers")}
    return None


def device_stages(spec: OptimizeSpec, journal, device, fingerprint: Dict, entries: Dict[str, Dict],
                  sources: Dict[str, Dict], progress, started: float) -> Outcome:
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
    except EdgebenchError as exc:  # a dropped connection or a device that went away
        stopped = f"the device failed: {exc}"
    if decision is None:
        decision = search.best_so_far()
    search.close(stopped)
    report = write_outputs(spec=spec, journal=journal, entries=entries, sources=sources, decision=decision,
                           ledger=ledger, fingerprint=fingerprint, stopped=stopped,
                           stages=progress.records(), wall_s=time.perf_counter() - started)
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

