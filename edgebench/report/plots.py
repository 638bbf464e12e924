"""Comparison plots (matplotlib, Agg): accuracy against latency and size with the Pareto front, latency
distributions per artifact, and p50 per device when several devices are present."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

from edgebench.report.pareto import pareto_front
from edgebench.report.table import Row
from edgebench.report.writers import figure_png


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    return figure_png(fig, dpi=110)


def accuracy_scatter(rows: Sequence[Row], cost: Callable[[Row], Optional[float]], label: str, log_x: bool) -> bytes:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for device in sorted({r.device for r in rows}):
        subset = [r for r in rows if r.device == device and r.accuracy is not None and cost(r)]
        if not subset:
            continue
        points = [(cost(r), r.accuracy) for r in subset]
        ax.scatter([p[0] for p in points], [p[1] for p in points], label=device, zorder=3)
        for row, (x, y) in zip(subset, points):
            ax.annotate(f"{row.model} {row.artifact}", (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
        front = sorted((points[i] for i in pareto_front(points)))
        ax.plot([p[0] for p in front], [p[1] for p in front], "--", linewidth=1, zorder=2,
                label=f"Pareto front ({device})")
    if log_x:
        ax.set_xscale("log")
    accuracies = [r.accuracy for r in rows if r.accuracy is not None]
    if accuracies:
        ax.set_ylim(max(0.0, min(accuracies) - 2.0), min(100.0, max(accuracies) + 1.0) + 0.5)
    ax.set_xlabel(label)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def latency_distributions(runs: Sequence[Dict]) -> bytes:
    """Box plots from raw samples where the agent kept them, else the recorded percentiles."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(4, len(runs)) + 1))
    stats = []
    for run in runs:
        latency = run["latency_ms"]
        stats.append({"label": f"{run['_device']} {run['_model']} {run['artifact']}", "med": latency["p50"],
                      "q1": latency["min"] if "samples_ms" not in run else _quantile(run["samples_ms"], 0.25),
                      "q3": latency["p90"] if "samples_ms" not in run else _quantile(run["samples_ms"], 0.75),
                      "whislo": latency["min"], "whishi": latency["p99"], "fliers": []})
    ax.bxp(stats, orientation="horizontal", showfliers=False)
    ax.set_xlabel("latency (ms): box = IQR with samples (min-p90 without), whiskers = min-p99")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def _quantile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.quantile(np.asarray(values), q))


def per_device(rows: Sequence[Row]) -> Optional[bytes]:
    devices = sorted({r.device for r in rows})
    if len(devices) < 2:
        return None
    import numpy as np

    plt = _figure()
    labels = sorted({(r.model, r.artifact) for r in rows})
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) * len(devices)), 4))
    width = 0.8 / len(devices)
    for index, device in enumerate(devices):
        by_label = {(r.model, r.artifact): r.p50_ms for r in rows if r.device == device}
        ax.bar(np.arange(len(labels)) + index * width, [by_label.get(label, 0.0) for label in labels], width,
               label=device)
    ax.set_xticks(np.arange(len(labels)) + width * (len(devices) - 1) / 2)
    ax.set_xticklabels([f"{m}\n{a}" for m, a in labels], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("p50 latency (ms, log)")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return _png(fig)


def all_plots(rows: Sequence[Row], runs: Sequence[Dict]) -> Dict[str, bytes]:
    plots = {
        "accuracy_vs_latency": accuracy_scatter(rows, lambda r: r.p50_ms, "p50 latency (ms, log)", True),
        "accuracy_vs_size": accuracy_scatter(rows, lambda r: r.size_mib, "artifact size (MiB, log)", True),
        "latency_distributions": latency_distributions(runs),
    }
    devices = per_device(rows)
    if devices is not None:
        plots["per_device"] = devices
    return plots
