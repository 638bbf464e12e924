"""The answer's plots (matplotlib, Agg): accuracy against latency and against size with the Pareto front, the
winner against fp32 with intervals, and the device seconds per stage."""

from __future__ import annotations

import io
from typing import Dict, List, Optional, Sequence, Tuple

from edgebench.report.pareto import pareto_front

FORMAT_COLOURS = {"onnx": "#1f77b4", "tflite": "#d62728"}
PRECISION_MARKERS = {"fp32": "o", "fp16": "s", "dynamic": "D", "int8": "^", "int8-mix": "P"}


def _pyplot():
    import matplotlib  # plots are drawn only when the answer is written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # matplotlib: optional, loaded only when a figure is drawn

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def pyplot():
    """matplotlib's pyplot on the Agg backend (for the other figures of the answer)."""
    return _pyplot()


def png(fig) -> bytes:
    return _png(fig)


def device_latency(entry: Dict) -> Optional[float]:
    """The candidate's latest device median (confirmation, else sweep, else screening)."""
    device = entry.get("device") or {}
    for stage in ("confirmation", *sorted((k for k in device if k.startswith("sweep")), reverse=True),
                  "screening-2", "screening-1"):
        if stage in device:
            return device[stage]["median_of_rounds_ms"]
    return None


def accuracy_against(entries: Sequence[Dict], cost: str) -> Optional[bytes]:
    """Host accuracy (or agreement) against latency or size; the Pareto front as a step line."""
    points: List[Tuple[float, float, Dict]] = []
    for entry in entries:
        x = device_latency(entry) if cost == "latency" else (entry["bytes"] / 2**20 if entry.get("bytes") else None)
        drop = (entry.get("host") or {}).get("drop_pp")
        if x is not None and drop is not None:
            points.append((x, -drop, entry))
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for x, y, entry in points:
        ax.scatter([x], [y], color=FORMAT_COLOURS.get(entry["format"], "#555"),
                   marker=PRECISION_MARKERS.get(entry["precision"], "o"), s=60 if entry["reason"] == "winner" else 30,
                   edgecolors="black" if entry["reason"] == "winner" else "none")
        ax.annotate(entry["name"], (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    front = sorted((points[i] for i in pareto_front([(p[0], p[1]) for p in points])), key=lambda p: p[0])
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="#888", linestyle="--",
            label="Pareto front")
    ax.set_xlabel("p50 latency on the device (ms)" if cost == "latency" else "artifact size (MiB)")
    ax.set_ylabel("accuracy change against fp32 (pp)")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def winner_against_fp32(entries: Sequence[Dict]) -> Optional[bytes]:
    rows = [(e["name"], e["device"]["confirmation"]) for e in entries
            if (e.get("device") or {}).get("confirmation")]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.5 * len(rows)))
    for index, (name, figures) in enumerate(rows):
        lo, hi = figures["ci95_ms"]
        centre = figures["median_of_rounds_ms"]
        ax.errorbar([centre], [index], xerr=[[centre - lo], [hi - centre]], fmt="o", capsize=4)
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    ax.set_xlabel("median of round medians (ms), 95 % interval: the confirmation run")
    return _png(fig)


def device_seconds(by_stage: Dict[str, float]) -> Optional[bytes]:
    if not by_stage:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.4 * len(by_stage)))
    ax.barh(list(by_stage), list(by_stage.values()), color="#1f77b4")
    ax.set_xlabel("device seconds")
    return _png(fig)
