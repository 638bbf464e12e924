"""The sources table: with `--variants`, the study's table extended by the device axis (variant, technique
chain, params, FLOPs, accuracy, and the best artifact's latency, size and memory on this device, the Pareto
front marked); with `--prune`, the same for MODEL and its pruned copies."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from edgebench.optimize import plots
from edgebench.report.pareto import pareto_front

# Reasons that leave an artifact usable: within the budget and measured (or not yet measured for the budget).
USABLE = ("winner", "accepted", "indistinguishable", "dominated", "budget-exhausted")
COLUMNS = (("index", "#"), ("name", "source"), ("chain", "techniques"), ("params", "params"),
           ("mflops", "MFLOPs"), ("accuracy", "fp32 accuracy %"), ("best", "best artifact"),
           ("change_pp", "accuracy change pp"), ("latency_ms", "device ms"), ("mib", "MiB"),
           ("peak_rss_mb", "peak RSS MB"), ("pareto", "Pareto"))


def device_figures(entry: Dict) -> Tuple[Optional[float], Optional[float]]:
    """(median ms, peak RSS MB) of the candidate's latest device stage, or (None, None)."""
    latency = plots.device_latency(entry)
    if latency is None:
        return None, None
    stage = next(v for v in (entry.get("device") or {}).values() if v["median_of_rounds_ms"] == latency)
    return latency, stage.get("peak_rss_mb")


def best_artifact(candidates: Sequence[Dict], objective: str) -> Optional[Dict]:
    """The source's best usable artifact: by the objective among those measured on the device, else the smallest."""
    usable = [c for c in candidates if c["reason"] in USABLE and c.get("bytes")]
    measured = [c for c in usable if device_figures(c)[0] is not None]
    if not measured:
        return min(usable, key=lambda c: c["bytes"], default=None)
    if objective == "size":
        return min(measured, key=lambda c: (c["bytes"], device_figures(c)[0]))
    if objective == "memory":
        return min(measured, key=lambda c: (device_figures(c)[1] or float("inf"), device_figures(c)[0]))
    return min(measured, key=lambda c: (device_figures(c)[0], c["bytes"]))


def chain(source: Dict) -> str:
    if source["kind"] == "variant":
        return " > ".join(source.get("techniques") or []) or "(base)"
    prune = source.get("prune")
    if source["kind"] == "pruned" and prune:
        achieved = f", {100 * prune['achieved']:.0f} % of channels" if prune.get("achieved") is not None else ""
        return f"channel pruning {prune['ratio']:g}{achieved}, {prune['fine_tune_epochs']} fine-tune epochs"
    return "-"


def rows(report: Dict) -> List[Dict]:
    """One row per source, the Pareto fronts (device latency and artifact size against accuracy) marked."""
    found = []
    for source in report.get("sources") or []:
        own = [c for c in report["candidates"] if c.get("source") == source["name"]]
        best = best_artifact(own, report["objective"])
        latency, rss = device_figures(best) if best else (None, None)
        host = (best or {}).get("host") or {}
        found.append({"index": source.get("index"), "name": source["name"], "kind": source["kind"],
                      "reference": source["reference"], "chain": chain(source), "params": source.get("params"),
                      "mflops": round(source["flops"] / 1e6, 2) if source.get("flops") else source.get("mflops"),
                      "accuracy": source.get("accuracy"), "best": best["name"] if best else None,
                      "change_pp": None if host.get("drop_pp") is None else round(-host["drop_pp"], 2),
                      "latency_ms": latency, "mib": round(best["bytes"] / 2**20, 4) if best else None,
                      "peak_rss_mb": rss, "reason": best["reason"] if best else _why_none(own), "pareto": ""})
    for cost, mark in (("latency_ms", "latency"), ("mib", "size")):
        placed = [r for r in found if r[cost] is not None and r["change_pp"] is not None]
        for index in pareto_front([(r[cost], r["change_pp"]) for r in placed]):
            placed[index]["pareto"] = "+".join(filter(None, [placed[index]["pareto"], mark]))
    return found


def _why_none(own: Sequence[Dict]) -> Optional[str]:
    """Why a source has no best artifact: its candidates' reasons, most common first."""
    reasons = [c["reason"] for c in own]
    return ", ".join(sorted(set(reasons), key=lambda r: (-reasons.count(r), r))) or None


def _cell(row: Dict, key: str) -> str:
    if key == "best" and row.get("best") is None and row.get("reason"):
        return f"none ({row['reason']})"
    value = row.get(key)
    if value is None or value == "":
        return "-"
    if key == "params":
        return f"{value:,}"
    if key == "name" and row.get("reference"):
        return f"{value} (reference)"
    if key == "change_pp":
        return f"{value:+.2f}"
    if key == "latency_ms":
        return f"{value:.3f}"
    return str(value)


def cells(table: Sequence[Dict]) -> Tuple[List[str], List[List[str]]]:
    shown = [(k, t) for k, t in COLUMNS if k != "index" or any(r.get("index") is not None for r in table)]
    return [t for _, t in shown], [[_cell(row, k) for k, _ in shown] for row in table]


def title(report: Dict) -> str:
    if any(s["kind"] == "variant" for s in report.get("sources") or []):
        return "The study on this device"
    return "Sources"


NOTE = ("Accuracy change against the reference's fp32 on the bundled eval set; device ms and peak RSS from the best "
        "artifact's latest device stage; Pareto: on the front of device latency (or artifact size) against accuracy.")


def plot(table: Sequence[Dict]) -> Optional[bytes]:
    """Each source's best artifact: accuracy change against device latency, the front drawn."""
    placed = [r for r in table if r["latency_ms"] is not None and r["change_pp"] is not None]
    if not placed:
        return None
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.scatter([r["latency_ms"] for r in placed], [r["change_pp"] for r in placed], color="#4c72b0", zorder=3)
    for row in placed:
        tag = str(row["index"]) if row.get("index") is not None else row["name"]
        ax.annotate(tag, (row["latency_ms"], row["change_pp"]), fontsize=8, xytext=(4, 3), textcoords="offset points")
    front = sorted((r for r in placed if "latency" in r["pareto"]), key=lambda r: r["latency_ms"])
    ax.step([r["latency_ms"] for r in front], [r["change_pp"] for r in front], where="post", color="#dd8452",
            label="Pareto front")
    for row in (r for r in placed if r.get("reference")):
        ax.scatter([row["latency_ms"]], [row["change_pp"]], marker="*", s=160, color="#c44e52", zorder=4,
                   label=f"reference ({row['name']})")
    ax.set_xlabel("best artifact's median latency on the device (ms)")
    ax.set_ylabel("accuracy change against the reference (pp)")
    ax.legend(loc="best", fontsize=8)
    return plots.png(fig)
