"""Rows of the comparison: one per measured artifact, with deltas against its baseline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

from edgebench.errors import EdgebenchError
from edgebench.report.load import LoadedResult


@dataclass(frozen=True)
class Row:
    device: str
    model: str
    artifact: str
    format: str
    precision: str
    threads: int
    size_mib: Optional[float]
    accuracy: Optional[float]  # percent
    eval_count: Optional[int]
    p50_ms: float
    p90_ms: float
    cv: Optional[float]
    runs: int
    peak_rss_mb: Optional[float]
    source: str
    params: Optional[int] = None
    macs: Optional[int] = None
    export_agreement: Optional[float] = None  # percent, measured by export on the host
    eval_sha256: Optional[str] = None
    flags: Tuple[str, ...] = ()
    baseline: Optional[str] = None
    drop_pp: Optional[float] = None
    speedup: Optional[float] = None
    size_ratio: Optional[float] = None
    memory_ratio: Optional[float] = None

    def as_dict(self) -> Dict:
        return asdict(self)


@dataclass(frozen=True)
class Failure:
    device: str
    model: str
    artifact: str
    error: str
    source: str


def build_rows(results: Sequence[LoadedResult], baseline: Optional[str] = None,
               thresholds=None) -> Tuple[List[Row], List[Failure]]:
    rows: List[Row] = []
    failures: List[Failure] = []
    for loaded in results:
        doc = loaded.document
        device = doc["device"]["name"]
        model_info = doc["bundle"].get("model") or {}
        model = model_info.get("name", "?")
        eval_sha = (doc["bundle"].get("eval") or {}).get("sha256")
        result_flags = tuple((doc.get("thermal") or {}).get("flags") or ())
        threads = int(doc["settings"]["threads"])
        if doc.get("error") and not doc["runs"]:
            failures.append(Failure(device, model, "(bundle)", doc["error"], str(loaded.path)))
        for run in doc["runs"]:
            if run["error"]:
                failures.append(Failure(device, model, run["artifact"], run["error"], str(loaded.path)))
                continue
            latency, accuracy = run["latency_ms"], run.get("accuracy")
            rows.append(Row(
                device=device, model=model, artifact=run["artifact"], format=run["format"],
                precision=run["precision"], threads=threads,
                size_mib=round(run["file_bytes"] / 2**20, 4) if run.get("file_bytes") else None,
                accuracy=round(100 * accuracy["top1"], 3) if accuracy else None,
                eval_count=accuracy["count"] if accuracy else None,
                p50_ms=latency["p50"], p90_ms=latency["p90"], cv=latency.get("cv"), runs=latency["n"],
                peak_rss_mb=(run.get("memory") or {}).get("peak_rss_mb"), source=str(loaded.path),
                params=model_info.get("params"), macs=model_info.get("macs"),
                export_agreement=round(100 * run["export_check"]["top1_agreement"], 3)
                if run.get("export_check") else None,
                eval_sha256=eval_sha, flags=result_flags,
            ))
    from edgebench.report.flags import FlagThresholds, flag_rows

    return flag_rows(with_baselines(rows, baseline), thresholds or FlagThresholds()), failures


def with_baselines(rows: List[Row], baseline: Optional[str]) -> List[Row]:
    """The baseline of a row is the fp32 ONNX artifact of the same model, device and thread count, unless
    `baseline` names another artifact."""
    groups: Dict[tuple, List[Row]] = {}
    for row in rows:
        groups.setdefault((row.device, row.model, row.threads), []).append(row)
    names = {row.artifact for row in rows}
    if baseline is not None and baseline not in names:
        raise EdgebenchError(f"baseline '{baseline}' is not among the artifacts: choose from {', '.join(sorted(names))}")
    out: List[Row] = []
    for group in groups.values():
        base = _pick_baseline(group, baseline)
        for row in group:
            if base is None:
                out.append(row)
                continue
            out.append(replace(
                row, baseline=base.artifact,
                drop_pp=round(base.accuracy - row.accuracy, 3) if None not in (base.accuracy, row.accuracy) else None,
                speedup=round(base.p50_ms / row.p50_ms, 3) if row.p50_ms > 0 else None,
                size_ratio=round(base.size_mib / row.size_mib, 3) if base.size_mib and row.size_mib else None,
                memory_ratio=round(base.peak_rss_mb / row.peak_rss_mb, 3)
                if base.peak_rss_mb and row.peak_rss_mb else None,
            ))
    return sorted(out, key=lambda r: (r.device, r.model, r.threads, r.format, r.precision))


def _pick_baseline(group: List[Row], name: Optional[str]) -> Optional[Row]:
    if name is not None:
        return next((r for r in group if r.artifact == name), None)
    for fmt in ("onnx", "tflite"):
        for row in group:
            if row.format == fmt and row.precision == "fp32":
                return row
    return None


@dataclass(frozen=True)
class BudgetAnswer:
    device: str
    max_drop_pp: float
    fastest: Optional[Row]
    smallest: Optional[Row]


def within_budget(rows: Sequence[Row], max_drop: float) -> List[BudgetAnswer]:
    """Per device: the fastest and the smallest artifact whose accuracy drop is at most `max_drop` pp."""
    answers = []
    for device in sorted({r.device for r in rows}):
        allowed = [r for r in rows if r.device == device and r.drop_pp is not None and r.drop_pp <= max_drop]
        answers.append(BudgetAnswer(
            device, max_drop,
            min(allowed, key=lambda r: r.p50_ms) if allowed else None,
            min(allowed, key=lambda r: (r.size_mib or float("inf"), r.p50_ms)) if allowed else None,
        ))
    return answers
