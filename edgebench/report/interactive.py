"""The interactive accuracy charts of the HTML report (Plotly, its bundled script inlined once, so the page
stays one file that works offline): hovering a point shows its row; the Pareto front is a step line per device;
the Pareto points and the reference carry labels placed by `report/labels.py` in the chart's own pixel geometry
(fixed size and margins), so no two labels intersect; the rest are found by hovering.

Without the `plots` extra (plotly) the section is left out and the static PNGs remain."""

from __future__ import annotations

import html
import json
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from edgebench.report.labels import place
from edgebench.report.pareto import pareto_front
from edgebench.report.plots import configuration, format_colour, is_reference, scatter_points
from edgebench.report.table import Row

WIDTH, HEIGHT = 860, 480
MARGIN = {"l": 70, "r": 240, "t": 30, "b": 60}
FONT_PX = 11
# A generous estimate of a label's box in the browser's sans-serif at FONT_PX (checked in Chromium by a test).
CHAR_PX, LINE_PX = 0.64 * FONT_PX, FONT_PX + 6
SYMBOLS = {"fp32": "circle", "fp16": "square", "dynamic": "diamond", "int8": "triangle-up", "mixed": "cross"}
CHARTS = (("accuracy_vs_latency_interactive", "p50 latency (ms, log scale)", lambda r: r.p50_ms),
          ("accuracy_vs_size_interactive", "artifact size (MiB, log scale)", lambda r: r.size_mib))


def plotly_script() -> Optional[str]:
    try:
        from plotly.offline import get_plotlyjs  # the `plots` extra; only read when an HTML report is written
    except ModuleNotFoundError:
        return None
    return get_plotlyjs()


def chart_spec(rows: Sequence[Row], cost: Callable[[Row], Optional[float]], title: str) -> Optional[Dict]:
    """Plotly's data and layout for one accuracy chart, or None when no row has both numbers."""
    points = scatter_points(rows, cost)
    if not points:
        return None
    x_range = [math.log10(min(cost(r) for r in points) / 1.6), math.log10(max(cost(r) for r in points) * 1.6)]
    accuracies = [r.accuracy for r in points]
    spread = max(max(accuracies) - min(accuracies), 1.0)
    y_range = [max(0.0, min(accuracies) - 0.35 * spread), min(100.0, max(accuracies) + 0.35 * spread) + 0.05 * spread]
    several = len({r.device for r in points}) > 1
    data = _traces(points, cost, several)
    layout = {
        "width": WIDTH, "height": HEIGHT, "margin": MARGIN, "autosize": False, "hovermode": "closest",
        "font": {"size": FONT_PX}, "showlegend": True, "legend": {"x": 1.02, "y": 1.0, "font": {"size": 10}},
        "xaxis": {"type": "log", "range": x_range, "title": {"text": title}, "automargin": False},
        "yaxis": {"range": y_range, "title": {"text": "top-1 accuracy (%)"}, "automargin": False},
        "annotations": _annotations(points, cost, x_range, y_range),
    }
    return {"data": data, "layout": layout}


def _traces(points: Sequence[Row], cost, several: bool) -> List[Dict]:
    traces = []
    formats = sorted({r.format for r in points})
    groups: Dict[Tuple[str, str, str], List[Row]] = {}
    for row in points:
        groups.setdefault((row.device if several else "", row.format, row.precision), []).append(row)
    for (device, fmt, precision), members in sorted(groups.items()):
        traces.append({
            "type": "scatter", "mode": "markers", "name": f"{device + ' ' if device else ''}{fmt} {precision}",
            "x": [cost(r) for r in members], "y": [r.accuracy for r in members],
            "marker": {"color": format_colour(fmt, formats), "symbol": SYMBOLS.get(precision, "x"), "size": 9,
                       "line": {"color": "black" if device and device != sorted({r.device for r in points})[0]
                                else "white", "width": 1}},
            "text": [_hover(r) for r in members], "hovertemplate": "%{text}<extra></extra>",
        })
    for device in sorted({r.device for r in points}):
        subset = [r for r in points if r.device == device]
        front = sorted((subset[i] for i in pareto_front([(cost(r), r.accuracy) for r in subset])), key=cost)
        traces.append({"type": "scatter", "mode": "lines", "line": {"shape": "hv", "color": "#333333", "width": 1.5},
                       "name": f"Pareto front{' ' + device if several else ''}", "hoverinfo": "skip",
                       "x": [cost(r) for r in front], "y": [r.accuracy for r in front]})
    references = [r for r in points if is_reference(r)]
    if references:
        traces.append({"type": "scatter", "mode": "markers", "name": "reference", "hoverinfo": "skip",
                       "x": [cost(r) for r in references], "y": [r.accuracy for r in references],
                       "marker": {"symbol": "circle-open", "size": 18, "color": "black", "line": {"width": 1.5}}})
    return traces


def _hover(row: Row) -> str:
    parts = [html.escape(configuration(row.model, row.label, row.threads, row.device)),
             f"p50 {row.p50_ms:.3f} ms" + (f" [{row.p50_ci95[0]:.3f}, {row.p50_ci95[1]:.3f}]" if row.p50_ci95 else ""),
             f"accuracy {row.accuracy:.2f} %" + (f" (drop {row.drop_pp:+.2f} pp)" if row.drop_pp is not None else "")]
    if row.size_mib is not None:
        parts.append(f"size {row.size_mib:.3f} MiB")
    if row.speedup is not None:
        parts.append(f"speedup {row.speedup:.2f}x")
    parts += [f"flag: {html.escape(flag)}" for flag in row.flags]
    return "<br>".join(parts)


def _annotations(points: Sequence[Row], cost, x_range, y_range) -> List[Dict]:
    """Labels for the Pareto points and the references, placed in the chart's pixels (y up, from the bottom)."""
    plot_width = WIDTH - MARGIN["l"] - MARGIN["r"]
    plot_height = HEIGHT - MARGIN["t"] - MARGIN["b"]
    named = []
    for device in sorted({r.device for r in points}):
        subset = [r for r in points if r.device == device]
        front = [subset[i] for i in pareto_front([(cost(r), r.accuracy) for r in subset])]
        named += [r for r in subset if any(r is f for f in front) or is_reference(r)]
    several = len({r.device for r in points}) > 1
    one_model = len({r.model for r in points}) == 1

    def pixel(row: Row) -> Tuple[float, float]:
        x = MARGIN["l"] + (math.log10(cost(row)) - x_range[0]) / (x_range[1] - x_range[0]) * plot_width
        y = MARGIN["b"] + (row.accuracy - y_range[0]) / (y_range[1] - y_range[0]) * plot_height
        return x, y

    texts = [configuration("" if one_model else r.model, r.label, r.threads, r.device if several else None).strip()
             for r in named]
    others = [pixel(r) for r in points if not any(r is n for n in named)]
    spots = place([pixel(r) for r in named], [(CHAR_PX * len(t), LINE_PX) for t in texts],
                  (MARGIN["l"], MARGIN["b"], MARGIN["l"] + plot_width, MARGIN["b"] + plot_height),
                  obstacles=others, marker_radius=7.0, pad=2.0, max_distance=80.0)
    annotations = []
    for row, text, spot in zip(named, texts, spots):
        if spot is None:
            continue
        annotations.append({"x": math.log10(cost(row)), "y": row.accuracy, "xref": "x", "yref": "y",
                            "text": html.escape(text), "showarrow": False, "xshift": spot.dx, "yshift": spot.dy,
                            "xanchor": "center", "yanchor": "middle", "font": {"size": FONT_PX},
                            "bgcolor": "rgba(255,255,255,0.85)"})
    return annotations


def html_parts(rows: Sequence[Row]) -> List[str]:
    """The interactive charts with Plotly's script inlined once; [] without plotly or without points."""
    specs = [(name, title, chart_spec(rows, cost, title)) for name, title, cost in CHARTS]
    specs = [(name, title, spec) for name, title, spec in specs if spec is not None]
    if not specs:
        return []
    script = plotly_script()
    if script is None:
        return ["<p><small>Interactive charts left out: install the plots extra "
                "(pip install 'edgebench[plots]') for them.</small></p>"]
    parts = ["<h2>Explore</h2><p><small>Hover a point for its row; the legend toggles formats and precisions."
             "</small></p>", f"<script>{script}</script>"]
    for name, title, spec in specs:
        parts.append(f"<div class='interactive' id='{name}' style='width:{WIDTH}px;height:{HEIGHT}px'></div>")
        data, layout = (json.dumps(spec[key]).replace("</", "<\\/") for key in ("data", "layout"))
        parts.append(f"<script>Plotly.newPlot('{name}', {data}, {layout}, "
                     "{displaylogo: false, responsive: false});</script>")
    return parts
