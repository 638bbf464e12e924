"""The host stage over every source: pruned sources made (or found in the cache), each source's export groups
written once, and every candidate's accuracy judged against the one reference (MODEL's fp32, or the study's
baseline variant's), so that `--max-drop` bounds the drop from the original model.

Two rounds of exports when there is more than one source: the plain precisions of every source (and the int8 mix
of the reference), then the int8 mix of the other sources, each with what is left of the budget once its own fp32
drop is counted (a pruned model that already loses 0.6 pp of a 1 pp budget may keep 0.4 pp for quantization).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Tuple

from edgebench.errors import EdgebenchError, WriteError
from edgebench.executor import make_executor
from edgebench.optimize.host import ExportOutcome, ExportTask, export_group, group_entries, host_accuracy
from edgebench.optimize.sources import Source, make_pruned
from edgebench.optimize.space import MIX, Candidate, export_groups

Group = Tuple[str, bool, Tuple[str, ...]]  # (format, mixed int8?, precisions)


@dataclass(frozen=True, kw_only=True)
class Reference:
    """What every other source is judged against: the reference's accuracy on the eval set, and the eval set and
    preprocessing every artifact in the device bundle must share."""

    accuracy: Optional[float]  # % on the bundled eval set (the reference's own framework model)
    eval_sha256: Optional[str]
    preprocess: Optional[Dict]
    class_names: Optional[List]


def host_stage(spec, journal, progress) -> Tuple[Dict[str, Dict], Dict[str, Dict], List[Dict]]:
    """Every candidate's record, where each kept artifact lies, and one row per source (for the report)."""
    sources = [made_source(source, spec, journal, progress) for source in spec.sources()]
    plans = {source.name: source_candidates(spec, source) for source in sources}
    first = [(s, g) for s in sources if "error" not in s.facts for g in export_groups(plans[s.name])
             if not g[1] or s.reference]
    outcomes = exports(first, {s.name: spec.max_drop for s in sources}, spec, journal, progress)
    reference = reference_of(sources[0], outcomes)
    budgets = {s.name: round(spec.max_drop - own_drop(s, outcomes, reference), 4) for s in sources
               if not s.reference}
    second = [(s, g) for s in sources if "error" not in s.facts for g in export_groups(plans[s.name])
              if g[1] and not s.reference and budgets[s.name] > 0]
    outcomes.update(exports(second, budgets, spec, journal, progress))
    entries: Dict[str, Dict] = {}
    located: Dict[str, Dict] = {}
    for source in sources:
        for candidate in plans[source.name]:
            entry = new_entry(candidate, source)
            entries[candidate.name] = entry
            outcome = outcomes.get((source.name, candidate.format, candidate.precision == MIX))
            judge_candidate(entry, candidate, source, outcome, located, entries, spec.max_drop, reference,
                            budgets.get(source.name))
    first_name = plans[sources[0].name][0].name
    if entries[first_name]["reason"] is not None:
        raise EdgebenchError(f"the fp32 ONNX reference could not be made: {entries[first_name]['detail']}")
    return entries, located, [source_row(s, outcomes, reference) for s in sources]


def made_source(source: Source, spec, journal, progress) -> Source:
    """A pruned source with its checkpoint: pruned now (with its fine-tuning) or found in the cache."""
    if source.kind != "pruned":
        return source
    try:
        with progress.stage(f"prune {source.name} ({spec.prune.fine_tune_epochs} fine-tune epochs)"):
            made, cached = make_pruned(source, spec.prune, journal.folder / "cache" / "pruned", progress.note)
    except WriteError:  # a full disk: the run stops, saying so
        raise
    except (EdgebenchError, RuntimeError, ValueError) as exc:  # the model cannot be pruned so: the rest go on
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        progress.note(f"{source.name}: pruning failed: {first_line}")
        return replace(source, facts=dict(source.facts, error=f"pruning failed: {first_line}"))
    facts = made.facts["prune"]
    progress.note(f"{source.name}: {'cached' if cached else 'pruned'}, {facts['params']:,} params (from "
                  f"{facts['params_before']:,}), test accuracy {100 * facts['test_accuracy']:.2f} %")
    return made


def source_candidates(spec, source: Source) -> List[Candidate]:
    candidates = spec.space.candidates(source=source.prefix, of_reference=source.reference)
    if not source.searched:  # only its fp32 ONNX, the reference
        candidates = candidates[:1]
    if spec.max_drop == 0:  # the mix would keep every layer in float: it is fp32
        candidates = [c for c in candidates if c.precision != MIX]
    return candidates


def exports(groups: List[Tuple[Source, Group]], budgets: Dict[str, float], spec, journal,
            progress) -> Dict[Tuple[str, str, bool], ExportOutcome]:
    """(source, format, mixed) -> the outcome of its export, `budgets` the int8 mix's drop per source."""
    tasks = [ExportTask(source=s.input, format=fmt, mixed=mixed, precisions=precisions,
                        max_drop=budgets[s.name] or None, cache=journal.exports)
             for s, (fmt, mixed, precisions) in groups]
    names = [f"{s.prefix + ' ' if s.prefix else ''}{fmt}{'-mix' if mixed else ''}" for s, (fmt, mixed, _) in groups]
    done = run_exports(tasks, names, spec.executor, progress)
    return {(s.name, g[0], g[1]): outcome for (s, g), outcome in zip(groups, done)}


def run_exports(tasks: List[ExportTask], names: List[str], executor: str, progress) -> List[ExportOutcome]:
    """Each export task through the executor, outcomes in the tasks' order; a task that failed refuses its
    group's candidates."""
    outcomes: List[Optional[ExportOutcome]] = [None] * len(tasks)
    if not tasks:
        return []
    with make_executor(executor) as running, progress.counter(total=len(tasks), desc="host exports") as advance:
        for done in running.map(export_group, tasks, names=names, cpus=1):
            outcome = done.value if done.error is None else ExportOutcome(
                folder=None, manifest=None, error=done.error, cached=False, seconds=done.seconds)
            if outcome.write_failed:  # the executor hands back values, not exceptions: raised again here
                raise WriteError(outcome.error)
            outcomes[done.index] = outcome
            progress.note(f"export {done.name}: {'cached' if outcome.cached else outcome.error or 'written'}")
            advance()
    return outcomes


def _fp32(source: Source, outcomes: Dict) -> Optional[Dict]:
    outcome = outcomes.get((source.name, "onnx", False))
    return group_entries(outcome, "onnx", ["fp32"]).get("fp32") if outcome is not None else None


def reference_of(source: Source, outcomes: Dict) -> Reference:
    found = _fp32(source, outcomes)
    manifest = (outcomes.get((source.name, "onnx", False)) or ExportOutcome(
        folder=None, manifest=None, error=None, cached=False, seconds=0.0)).manifest or {}
    check = (found or {}).get("check") or {}
    accuracy = 100.0 * check["reference_accuracy"] if check.get("reference_accuracy") is not None else None
    return Reference(accuracy=accuracy, eval_sha256=(manifest.get("eval") or {}).get("sha256"),
                     preprocess=manifest.get("preprocess"), class_names=manifest.get("class_names"))


def own_accuracy(source: Source, outcomes: Dict) -> Optional[float]:
    """The source's own framework model's accuracy on the eval set (%), as its export measured it."""
    check = (_fp32(source, outcomes) or {}).get("check") or {}
    return 100.0 * check["reference_accuracy"] if check.get("reference_accuracy") is not None else None


def own_drop(source: Source, outcomes: Dict, reference: Reference) -> float:
    """How far the source's own fp32 already is below the reference (negative: above it; 0 when unmeasured)."""
    accuracy = own_accuracy(source, outcomes)
    if accuracy is None or reference.accuracy is None:
        return 0.0
    return reference.accuracy - accuracy


def new_entry(candidate: Candidate, source: Source) -> Dict:
    return {"name": candidate.name, "source": source.name, "format": candidate.format,
            "precision": candidate.precision, "is_reference": candidate.is_reference, "reason": None, "detail": "",
            "bytes": None, "sha256": None, "host": {}}


def judge_candidate(entry: Dict, candidate: Candidate, source: Source, outcome: Optional[ExportOutcome],
                    located: Dict, entries: Dict, max_drop: float, reference: Reference,
                    budget: Optional[float]) -> None:
    if source.facts.get("error"):
        entry.update(reason="export-refused", detail=source.facts["error"])
        return
    if outcome is None:  # an int8 mix with nothing left of the budget: never exported
        lost = max_drop - (budget or 0.0)
        entry.update(reason="accuracy-drop", detail=f"{source.name}'s fp32 already loses {lost:.2f} pp of the "
                                                    f"{max_drop:g} pp budget")
        return
    if outcome.error is not None:
        entry.update(reason="export-refused", detail=outcome.error)
        return
    if not source.reference:
        mismatch = shared_bundle_mismatch(outcome.manifest or {}, reference)
        if mismatch:
            entry.update(reason="export-refused", detail=f"{mismatch} differs from the reference's: it cannot share "
                                                         "the reference's eval set and device bundle")
            return
    found = group_entries(outcome, candidate.format, [candidate.export_precision]).get(candidate.export_precision)
    judge_host(entry, found, outcome, located, max_drop, entries, None if source.reference else reference)


def shared_bundle_mismatch(manifest: Dict, reference: Reference) -> Optional[str]:
    if (manifest.get("eval") or {}).get("sha256") != reference.eval_sha256:
        return "its eval set"
    if manifest.get("preprocess") != reference.preprocess:
        return "its preprocessing"
    if manifest.get("class_names") != reference.class_names:
        return "its class names"
    return None


def judge_host(entry: Dict, found: Optional[Dict], outcome, located: Dict, max_drop: float,
               entries: Dict[str, Dict], reference: Optional[Reference] = None) -> None:
    """`reference`: the drop is measured from it (a source other than the reference), else from the artifact's
    own framework model."""
    if found is None:
        entry.update(reason="export-refused", detail="the export wrote no such artifact")
        return
    if not found["kept"]:
        divergence = found.get("divergence") or {}
        where = f" (first diverging layer: {divergence.get('node')})" if divergence.get("node") else ""
        entry.update(reason="export-refused", detail=f"{found.get('reason', 'refused by the gate')}{where}")
        return
    accuracy, drop, measure, against = judged_accuracy(found, reference)
    entry.update(bytes=found["bytes"], sha256=found["sha256"], quantization=_mix_summary(found),
                 host={"accuracy": accuracy, "reference_accuracy": against, "drop_pp": drop, "measured_as": measure,
                       "count": (found.get("check") or {}).get("count"), "export_seconds": found.get("export_seconds"),
                       "cached": outcome.cached})
    located[entry["name"]] = {"folder": str(outcome.folder), "artifact": found, "manifest": outcome.manifest}
    twin = next((e for e in entries.values() if e is not entry and e.get("sha256") == found["sha256"]), None)
    if twin is not None:
        entry.update(reason="duplicate", detail=f"the same artifact as {twin['name']} (sha256 "
                                                f"{found['sha256'][:12]}...)")
    elif not entry["is_reference"] and drop is None and reference is not None:
        entry.update(reason="accuracy-drop", detail="no labelled accuracy: its drop from the reference cannot be "
                                                    "measured (give --data with labels)")
    elif not entry["is_reference"] and drop is not None and drop > max_drop + 1e-9:
        entry.update(reason="accuracy-drop", detail=f"-{drop:g} pp on the host ({measure}; budget {max_drop:g})")


def judged_accuracy(found: Dict, reference: Optional[Reference]):
    """(accuracy %, drop pp, what the drop is measured as, the accuracy it is measured from)."""
    accuracy, drop, measure = host_accuracy(found)
    check = found.get("check") or {}
    own = 100.0 * check["reference_accuracy"] if check.get("reference_accuracy") is not None else None
    if reference is None:
        return accuracy, drop, measure, own
    if accuracy is None or reference.accuracy is None:
        return accuracy, None, "unmeasured", reference.accuracy
    return accuracy, round(reference.accuracy - accuracy, 4), "accuracy against the reference", \
        round(reference.accuracy, 4)


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


def source_row(source: Source, outcomes: Dict, reference: Reference) -> Dict:
    """The source as the report lists it: what it is, its size and cost, its own fp32 accuracy on the eval set."""
    manifest = (outcomes.get((source.name, "onnx", False)) or ExportOutcome(
        folder=None, manifest=None, error=None, cached=False, seconds=0.0)).manifest or {}
    model = manifest.get("model") or {}
    accuracy = own_accuracy(source, outcomes)
    facts = dict(source.facts)
    return {"name": source.name, "kind": source.kind, "model": source.input.model,
            "checkpoint": source.input.checkpoint, "reference": source.reference, "searched": source.searched,
            "params": model.get("params") if model.get("params") is not None else facts.get("params"),
            "flops": model.get("flops"), "accuracy": None if accuracy is None else round(accuracy, 4),
            "drop_pp": None if accuracy is None or reference.accuracy is None else
            round(reference.accuracy - accuracy, 4), **{k: v for k, v in facts.items() if k not in ("params",)}}

