"""Comparison plots (matplotlib, Agg): accuracy against latency and size with the Pareto front as a step line,
latency distributions per configuration, and p50 per device when several devices are present.

Reading rules: one colour per format, one marker per precision; only the Pareto points and the reference carry
a text label, every other point carries its number (when it fits) and every point is in the numbered key under
the plot; labels are placed by `report/labels.py`, so no two label boxes intersect. The interactive version of
the accuracy chart (hover shows the row) is `report/interactive.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgebench.report.labels import place
from edgebench.report.pareto import pareto_front
from edgebench.report.table import Row
from edgebench.report.writers import figure_png

DPI = 110  # the figure is laid out and saved at this resolution, so label offsets in pixels stay true
FORMAT_COLOURS = {"onnx": "#1f77b4", "tflite": "#d62728"}
OTHER_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
PRECISION_MARKERS = {"fp32": "o", "fp16": "s", "dynamic": "D", "int8": "^", "mixed": "P"}
OTHER_MARKERS = ("v", "X", "*", "h", "<", ">")
LABEL_FONT = 7


def _figure():
    import matplotlib  # matplotlib: optional, loaded only when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # matplotlib: optional, loaded only when a figure is drawn

    return plt


def _png(fig) -> bytes:
    return figure_png(fig, dpi=DPI)


def format_colour(fmt: str, formats: Sequence[str] = ()) -> str:
    if fmt in FORMAT_COLOURS:
        return FORMAT_COLOURS[fmt]
    others = sorted(f for f in set(formats) | {fmt} if f not in FORMAT_COLOURS)
    return OTHER_COLOURS[others.index(fmt) % len(OTHER_COLOURS)]


def precision_marker(precision: str, precisions: Sequence[str] = ()) -> str:
    if precision in PRECISION_MARKERS:
        return PRECISION_MARKERS[precision]
    others = sorted(p for p in set(precisions) | {precision} if p not in PRECISION_MARKERS)
    return OTHER_MARKERS[others.index(precision) % len(OTHER_MARKERS)]


def configuration(row_model: str, config: str, threads: Optional[int], device: Optional[str] = None) -> str:
    """What one measured row is: model, artifact and settings (the thread count even where the agent's label
    leaves it out because it did not vary within that run), with the device where several are compared."""
    text = f"{row_model} {config}"
    if threads is not None and "threads=" not in config:
        text += f" threads={threads}"
    return f"{device}: {text}" if device else text


def is_reference(row: Row) -> bool:
    return row.baseline is not None and (row.model, row.artifact) == (row.baseline_model, row.baseline)


@dataclass(frozen=True, kw_only=True)
class Scatter:
    """The accuracy chart before it becomes a PNG: the figure, its label texts (for the overlap test), and the
    numbered key (number -> configuration)."""
    figure: object
    labels: Tuple[object, ...]
    key: Tuple[Tuple[int, str], ...]

    def png(self) -> bytes:
        return _png(self.figure)


def scatter_points(rows: Sequence[Row], cost: Callable[[Row], Optional[float]]) -> List[Row]:
    """The rows that can be drawn (an accuracy and a positive cost), numbered in this order: device, cost."""
    usable = [r for r in rows if r.accuracy is not None and cost(r)]
    return sorted(usable, key=lambda r: (r.device, cost(r), -r.accuracy))


def accuracy_figure(rows: Sequence[Row], cost: Callable[[Row], Optional[float]], label: str,
                    log_x: bool) -> Scatter:
    plt = _figure()
    points = scatter_points(rows, cost)
    devices = sorted({r.device for r in points}) or ["(none)"]
    several = len(devices) > 1
    fig, axes = plt.subplots(len(devices), 1, figsize=(7.5, 3.9 * len(devices)), dpi=DPI, squeeze=False)
    formats = sorted({r.format for r in points})
    precisions = sorted({r.precision for r in points})
    numbers = {id(row): index + 1 for index, row in enumerate(points)}
    for ax, device in zip(axes[:, 0], devices):
        subset = [r for r in points if r.device == device]
        _draw_device(ax, subset, cost, formats, precisions)
        if log_x:
            _log_axis(ax)
        _limits(ax, subset, cost, log_x)
        ax.set_xlabel(label)
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(True, alpha=0.3, which="both" if log_x else "major")
        if several:
            ax.set_title(device, fontsize=9)
    _legend(axes[0, 0], formats, precisions, any(is_reference(r) for r in points))
    fig.tight_layout()
    fig.canvas.draw()
    labels = []
    for ax, device in zip(axes[:, 0], devices):
        labels += _label_points(fig, ax, [r for r in points if r.device == device], cost, numbers)
    key = tuple((numbers[id(r)], configuration(r.model, r.label, r.threads, r.device if several else None))
                for r in points)
    _draw_key(fig, axes[-1, 0], key)
    return Scatter(figure=fig, labels=tuple(labels), key=key)


def _draw_device(ax, subset, cost, formats, precisions) -> None:
    for row in subset:
        ax.scatter([cost(row)], [row.accuracy], color=format_colour(row.format, formats),
                   marker=precision_marker(row.precision, precisions), s=36, zorder=3, edgecolors="white",
                   linewidths=0.5)
        if is_reference(row):
            ax.scatter([cost(row)], [row.accuracy], facecolors="none", edgecolors="black", marker="o", s=150,
                       linewidths=1.2, zorder=4)
    front = [subset[i] for i in pareto_front([(cost(r), r.accuracy) for r in subset])]
    if front:
        xs = [cost(r) for r in front]
        ys = [r.accuracy for r in front]
        # A step line: the best accuracy reachable at each cost holds until the next front point.
        ax.step(xs, ys, where="post", color="#333333", linewidth=1.4, alpha=0.8, zorder=2)


def _log_axis(ax) -> None:
    """A log axis whose ticks read as plain numbers (0.5, 1, 2), not powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator  # matplotlib: optional, loaded only when a figure is drawn

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def _limits(ax, subset, cost, log_x) -> None:
    if not subset:
        return
    accuracies = [r.accuracy for r in subset]
    low, high = min(accuracies), max(accuracies)
    spread = max(high - low, 1.0)
    ax.set_ylim(max(0.0, low - 0.35 * spread), min(100.0, high + 0.35 * spread) + 0.05 * spread)
    costs = [cost(r) for r in subset]
    if log_x:
        ax.set_xlim(min(costs) / 1.6, max(costs) * 1.6)
    else:
        margin = 0.15 * max(max(costs) - min(costs), max(costs) * 0.1)
        ax.set_xlim(min(costs) - margin, max(costs) + margin)


def _legend(ax, formats, precisions, has_reference) -> None:
    from matplotlib.lines import Line2D  # matplotlib: optional, loaded only when a figure is drawn

    handles = [Line2D([], [], color=format_colour(f, formats), marker="o", linestyle="", label=f"{f} (colour)")
               for f in formats]
    handles += [Line2D([], [], color="#555555", marker=precision_marker(p, precisions), linestyle="",
                       label=f"{p} (marker)") for p in precisions]
    handles.append(Line2D([], [], color="#333333", linewidth=1.4, drawstyle="steps-post", label="Pareto front"))
    if has_reference:
        handles.append(Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor="black", markersize=10,
                              linestyle="", label="reference"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _label_points(fig, ax, subset, cost, numbers) -> List[object]:
    """Text labels for the Pareto points and the reference (number and configuration), the number alone for the
    rest; each where `labels.place` finds room, else only in the key."""
    if not subset:
        return []
    renderer = fig.canvas.get_renderer()
    front = {id(subset[i]) for i in pareto_front([(cost(r), r.accuracy) for r in subset])}
    important = [r for r in subset if id(r) in front or is_reference(r)]
    ordered = important + [r for r in subset if id(r) not in front and not is_reference(r)]
    named = {id(r) for r in important}
    one_model = len({r.model for r in subset}) == 1
    texts = [f"{numbers[id(r)]} " + configuration("" if one_model else r.model, r.label, r.threads).strip()
             if id(r) in named else str(numbers[id(r)]) for r in ordered]
    sizes = []
    for text in texts:
        probe = ax.text(0, 0, text, fontsize=LABEL_FONT)
        extent = probe.get_window_extent(renderer)
        sizes.append((extent.width, extent.height))
        probe.remove()
    anchors = [tuple(ax.transData.transform((cost(r), r.accuracy))) for r in ordered]
    box = ax.bbox
    spots = place(anchors, sizes, (box.x0, box.y0, box.x1, box.y1), marker_radius=5.0 * DPI / 72, pad=1.5,
                  max_distance=90.0)
    artists = []
    for row, text, spot, (x, y) in zip(ordered, texts, spots, anchors):
        if spot is None:
            continue
        far = abs(spot.dx) - (spot.box[2] - spot.box[0]) / 2 > 14 or abs(spot.dy) - (spot.box[3] - spot.box[1]) / 2 > 14
        artists.append(ax.annotate(text, (cost(row), row.accuracy), xytext=(spot.dx, spot.dy),
                                   textcoords="offset pixels", ha="center", va="center", fontsize=LABEL_FONT,
                                   color="#111111" if id(row) in named else "#555555", zorder=5,
                                   arrowprops={"arrowstyle": "-", "color": "#999999", "linewidth": 0.6,
                                               "shrinkA": 0, "shrinkB": 4} if far else None))
    return artists


def _draw_key(fig, ax, key) -> None:
    if not key:
        return
    lines = [f"{number:>2}  {text}" for number, text in key]
    columns = 2 if len(lines) > 8 else 1
    per_column = (len(lines) + columns - 1) // columns
    for column in range(columns):
        chunk = lines[column * per_column:(column + 1) * per_column]
        ax.text(0.0 + 0.55 * column, -0.16, "\n".join(chunk), transform=ax.transAxes, va="top", ha="left",
                fontsize=6.5, family="monospace")


def accuracy_scatter(rows: Sequence[Row], cost: Callable[[Row], Optional[float]], label: str, log_x: bool) -> bytes:
    return accuracy_figure(rows, cost, label, log_x).png()


def latency_distributions(runs: Sequence[Dict]) -> bytes:
    """Box plots from raw samples where the agent kept them, else the recorded percentiles; one box per
    configuration (device where several, model, artifact and settings)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * max(4, len(runs)) + 1), dpi=DPI)
    several = len({run["_device"] for run in runs}) > 1
    stats = []
    for run in runs:
        latency = run["latency_ms"]
        threads = (run.get("setting") or {}).get("threads", run.get("_threads"))
        name = configuration(run["_model"], run.get("config") or run["artifact"], threads,
                             run["_device"] if several else None)
        stats.append({"label": name, "med": latency["p50"],
                      "q1": latency["min"] if "samples_ms" not in run else _quantile(run["samples_ms"], 0.25),
                      "q3": latency["p90"] if "samples_ms" not in run else _quantile(run["samples_ms"], 0.75),
                      "whislo": latency["min"], "whishi": latency["p99"], "fliers": []})
    if stats:
        ax.bxp(stats, orientation="horizontal", showfliers=False)
        ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("latency (ms): box = IQR with samples (min-p90 without), whiskers = min-p99")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def _quantile(values: Sequence[float], q: float) -> float:
    return float(np.quantile(np.asarray(values), q))


def per_device(rows: Sequence[Row]) -> Optional[bytes]:
    devices = sorted({r.device for r in rows})
    if len(devices) < 2:
        return None
    plt = _figure()
    labels = sorted({(r.model, r.label, r.threads) for r in rows})
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) * len(devices)), 4), dpi=DPI)
    width = 0.8 / len(devices)
    for index, device in enumerate(devices):
        by_label = {(r.model, r.label, r.threads): r.p50_ms for r in rows if r.device == device}
        ax.bar(np.arange(len(labels)) + index * width, [by_label.get(label, 0.0) for label in labels], width,
               label=device)
    ax.set_xticks(np.arange(len(labels)) + width * (len(devices) - 1) / 2)
    ax.set_xticklabels([f"{m}\n{a}\nthreads={t}" for m, a, t in labels], fontsize=7, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("p50 latency (ms, log)")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return _png(fig)


def all_plots(rows: Sequence[Row], runs: Sequence[Dict]) -> Dict[str, bytes]:
    plots = {
        "accuracy_vs_latency": accuracy_scatter(rows, lambda r: r.p50_ms, "p50 latency (ms, log scale)", True),
        "accuracy_vs_size": accuracy_scatter(rows, lambda r: r.size_mib, "artifact size (MiB, log scale)", True),
        "latency_distributions": latency_distributions(runs),
    }
    devices = per_device(rows)
    if devices is not None:
        plots["per_device"] = devices
    return plots
