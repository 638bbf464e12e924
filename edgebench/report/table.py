"""Rows of the comparison: one per measured artifact, with deltas against one reference artifact.

Accuracies are compared only on the same evaluation set (its sha256 and the image limit the agent used),
and emulated devices only with emulated devices: each such set of rows is a comparison domain with its own
reference."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

from device_agent.formats import FORMATS
from edgebench.errors import EdgebenchError
from edgebench.report.intervals import compare
from edgebench.report.load import LoadedResult
from edgebench.report.row import Row

# The reference within a model: its fp32 artifact of the first format it has, in the contract table's order.
FORMAT_PREFERENCE = tuple(FORMATS)


@dataclass(frozen=True, kw_only=True)
class Failure:
    device: str
    model: str
    artifact: str
    error: str
    source: str


def rows_from_results(results: Sequence[LoadedResult]) -> Tuple[List[Row], List[Failure]]:
    rows: List[Row] = []
    failures: List[Failure] = []
    for loaded in results:
        doc = loaded.document
        device = doc["device"]["name"]
        model = (doc["bundle"].get("model") or {}).get("name", "?")
        if not doc["runs"] and (doc.get("error") or not doc["complete"]):
            failures.append(Failure(device=device, model=model, artifact="(bundle)",
                                    error=doc.get("error") or "incomplete result with no finished artifact",
                                    source=str(loaded.path)))
        flags = _result_flags(doc)
        for run in doc["runs"]:
            if run["error"]:
                failures.append(Failure(device=device, model=model, artifact=run["artifact"], error=run["error"],
                                        source=str(loaded.path)))
            else:
                rows.append(_row(run, doc, str(loaded.path), flags))
    return rows, failures


def _result_flags(doc: Dict) -> Tuple[str, ...]:
    """What a whole result says about each of its rows: thermal flags, an imbalanced eval set, a cut-off run."""
    result_flags = tuple((doc.get("thermal") or {}).get("flags") or ())
    balance = (doc["bundle"].get("eval") or {}).get("balance") or {}
    if balance.get("imbalanced"):  # always answering that class scores as much: the accuracy says little
        result_flags += (f"imbalanced eval set: class {balance['majority_class']} is "
                         f"{100 * balance['majority_share']:.1f} % of its images, so its accuracy says little",)
    if not doc["complete"]:
        cause = f" ({doc['error']})" if doc.get("error") else ""
        cut = [run["partial"] for run in doc["runs"] if run.get("partial")]
        kept = f"the run stopped after {len(doc['runs']) - len(cut)} finished configuration(s)"
        if cut:
            kept += (f"; {len(cut)} cut off after {min(p['rounds_done'] for p in cut)} of "
                     f"{cut[0]['rounds_planned']} rounds (partial)")
        result_flags += (f"incomplete result{cause}: {kept}",)
    return result_flags


def _row(run: Dict, doc: Dict, source: str, flags: Tuple[str, ...]) -> Row:
    """One error-free run of a result as a row (no deltas yet)."""
    model_info = doc["bundle"].get("model") or {}
    latency, accuracy = run["latency_ms"], run.get("accuracy")
    setting = run.get("setting") or {}
    stability = run.get("stability") or {}
    interval = latency.get("p50_ci95")
    export_agreement = (run.get("export_check") or {}).get("top1_agreement")
    return Row(
        device=doc["device"]["name"], model=model_info.get("name", "?"), artifact=run["artifact"],
        format=run["format"], precision=run["precision"],
        threads=int(setting["threads"]) if isinstance(setting.get("threads"), int) else int(doc["settings"]["threads"]),
        size_mib=round(run["file_bytes"] / 2**20, 4) if run.get("file_bytes") else None,
        accuracy=round(100 * accuracy["top1"], 3) if accuracy else None,
        eval_count=accuracy["count"] if accuracy else None,
        p50_ms=latency["p50"], p90_ms=latency["p90"], cv=latency.get("cv"), runs=latency["n"],
        peak_rss_mb=(run.get("memory") or {}).get("peak_rss_mb"), source=source,
        params=model_info.get("params"), macs=model_info.get("macs"),
        export_agreement=round(100 * export_agreement, 3) if export_agreement is not None else None,
        eval_sha256=(doc["bundle"].get("eval") or {}).get("sha256"), flags=flags,
        emulated=True in (doc.get("emulated"), doc["device"].get("emulated")),
        eval_limit=doc["settings"].get("eval_limit"),
        config=run.get("config"), setting=json.dumps(setting, sort_keys=True) if setting else None,
        p50_ci95=(float(interval[0]), float(interval[1])) if interval else None,
        ci_half_width_pct=latency.get("ci_half_width_pct"), stability=stability.get("verdict"),
        stability_reason=stability.get("reason"), rounds_ms=tuple(float(v) for v in run.get("rounds_ms") or ()),
        interleaved=(doc["settings"].get("interleave") is not False) if run.get("rounds_ms") else None,
    )


def domains(rows: Sequence[Row]) -> Dict[Tuple, List[Row]]:
    groups: Dict[Tuple, List[Row]] = {}
    for row in rows:
        groups.setdefault(row.domain, []).append(row)
    return groups


def with_baselines(rows: List[Row], baseline: Optional[str] = None) -> List[Row]:
    """Drops, speedups (with their verdict where both rows have rounds) and size and memory ratios against one
    reference per comparison domain: by default the most accurate model's fp32 artifact (ONNX before TFLite),
    else `baseline` (ARTIFACT or MODEL/ARTIFACT).
    The drop is measured from the reference's accuracy on the same device where it ran there; the ratios
    need the reference on the same device with the same thread count."""
    if baseline is not None:
        _check_baseline(rows, baseline)
    out: List[Row] = []
    for group in domains(rows).values():
        reference = pick_reference(group, baseline)
        if reference is None:
            out += group
            continue
        for row in group:
            base = next((r for r in group if (r.model, r.artifact) == reference and r.device == row.device
                         and r.threads == row.threads), None)
            accuracy = reference_accuracy(group, reference, row.device)
            against = compare(base, row) if base is not None and base is not row else None
            out.append(replace(
                row, baseline=reference[1], baseline_model=reference[0],
                drop_pp=round(accuracy - row.accuracy, 3) if None not in (accuracy, row.accuracy) else None,
                speedup=round(base.p50_ms / row.p50_ms, 3) if base and row.p50_ms > 0 else None,
                size_ratio=round(base.size_mib / row.size_mib, 3) if base and base.size_mib and row.size_mib else None,
                memory_ratio=round(base.peak_rss_mb / row.peak_rss_mb, 3)
                if base and base.peak_rss_mb and row.peak_rss_mb else None,
                speedup_verdict=against.verdict if against else None,
            ))
    return sorted(out, key=lambda r: (r.device, r.model, r.threads, r.format, r.precision))


def _split(baseline: str) -> Tuple[Optional[str], str]:
    model, _, artifact = baseline.rpartition("/")
    return model or None, artifact


def _check_baseline(rows: Sequence[Row], baseline: str) -> None:
    model, artifact = _split(baseline)
    if not any(r.artifact == artifact and model in (None, r.model) for r in rows):
        names = sorted({r.artifact for r in rows} | {f"{r.model}/{r.artifact}" for r in rows})
        raise EdgebenchError(f"baseline '{baseline}' is not among the artifacts: choose from {', '.join(names)}")


def pick_reference(group: Sequence[Row], baseline: Optional[str] = None) -> Optional[Tuple[str, str]]:
    """(model, artifact) of the reference in one comparison domain, or None when it has none."""
    if baseline is not None:
        model, artifact = _split(baseline)
        matches = sorted({r.model for r in group if r.artifact == artifact and model in (None, r.model)})
        if len(matches) > 1:
            raise EdgebenchError(f"baseline '{baseline}' names an artifact of {len(matches)} models measured on the "
                                 f"same evaluation set: give one of {', '.join(f'{m}/{artifact}' for m in matches)}")
        return (matches[0], artifact) if matches else None
    fp32 = [r for r in group if r.precision == "fp32"]
    if not fp32:
        return None
    unknown = float("-inf")
    best = max(fp32, key=lambda r: (r.accuracy if r.accuracy is not None else unknown, _reverse(r.model)))
    own = [r for r in fp32 if r.model == best.model]
    for fmt in FORMAT_PREFERENCE:
        for row in own:
            if row.format == fmt:
                return row.model, row.artifact
    return best.model, best.artifact


def _reverse(name: str) -> Tuple[int, ...]:
    """A key under which max() picks the alphabetically first name among equals."""
    return tuple(-ord(c) for c in name)


def reference_accuracy(group: Sequence[Row], reference: Tuple[str, str], device: str) -> Optional[float]:
    """The reference's accuracy on `device` where it ran there, else its best on any device of the domain."""
    measured = [r for r in group if (r.model, r.artifact) == reference and r.accuracy is not None]
    here = [r.accuracy for r in measured if r.device == device]
    if here:
        return max(here)
    return max((r.accuracy for r in measured), default=None)
