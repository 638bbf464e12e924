"""Sustained runs in the report: burst against sustained p50, when throttling began and why, and per
configuration a plot of latency, temperature and frequency over time with the onset marked."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from edgebench.report.plots import _figure, _png
from edgebench.report.writers import html_table, markdown_table, plot_figure, png_name

HEADERS = ("device", "model", "configuration", "seconds", "burst p50 ms", "sustained p50 ms", "slowdown",
           "throttle onset", "temperature C", "frequency MHz")


def documents(results: Sequence) -> List[Dict]:
    """Result documents from loaded results (anything with `.document`) or from the documents themselves."""
    return [getattr(result, "document", result) for result in results]


def sustained_runs(results: Sequence) -> Iterator[Tuple[Dict, Dict]]:
    """(document, run) for every run that carries a sustained series."""
    for document in documents(results):
        for run in document.get("runs") or []:
            if isinstance(run.get("sustained"), dict) and run["sustained"].get("series"):
                yield document, run


def label(document: Dict, run: Dict) -> Tuple[str, str, str]:
    device = (document.get("device") or {}).get("name") or "?"
    model = ((document.get("bundle") or {}).get("model") or {}).get("name") or "?"
    return device, model, run.get("config") or run.get("artifact") or "?"


def _span(values: Sequence[Optional[float]], fmt: str, extreme: str) -> str:
    """"first -> last (max M)": how a sensor moved over the run."""
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    worst = max(known) if extreme == "max" else min(known)
    return f"{fmt.format(known[0])} -> {fmt.format(known[-1])} ({extreme} {fmt.format(worst)})"


def onset_text(sustained: Dict) -> str:
    if sustained.get("throttle_onset_s") is None:
        return "none"
    return f"{sustained['throttle_onset_s']:.0f} s: {sustained.get('throttle_reason') or '?'}"


def row(document: Dict, run: Dict) -> List[str]:
    sustained = run["sustained"]
    series = sustained["series"]
    slowdown = sustained.get("slowdown")
    return [*label(document, run), f"{sustained.get('seconds', 0):.0f}", f"{sustained['burst_p50_ms']:.3f}",
            f"{sustained['sustained_p50_ms']:.3f}", f"{slowdown:.3f}x" if slowdown else "-", onset_text(sustained),
            _span([s.get("temperature_c") for s in series], "{:.1f}", "max"),
            _span([s.get("frequency_mhz") for s in series], "{:.0f}", "min")]


def markdown(results: Sequence) -> List[str]:
    found = list(sustained_runs(results))
    if not found:
        return []
    lines = ["## Sustained runs", "",
             "Burst: the first 10 s (or 10 % of the run, whichever is shorter); sustained: the last half. "
             "Onset: the first moment the firmware reported throttling, the CPU frequency fell below 95 % of the "
             "start's, or the p50 stayed 10 % above the burst p50 for 3 intervals.", ""]
    lines += markdown_table(HEADERS, [row(document, run) for document, run in found])
    missing = [f"{' '.join(label(d, r))}" for d, r in found
               if all(s.get("temperature_c") is None for s in r["sustained"]["series"])]
    if missing:
        lines += ["", f"- no CPU temperature or frequency could be read on: {', '.join(missing)} (no "
                      "/sys/class/thermal zone or cpufreq driver); the onset there rests on latency alone"]
    return lines


def plot_png(run: Dict, title: str) -> bytes:
    """Three panels over time: p50 (and p90) latency with the burst and sustained p50, the hottest CPU
    temperature, the mean CPU frequency; the throttle onset as a vertical line through all three."""
    sustained = run["sustained"]
    series = sustained["series"]
    t = [s["t"] for s in series]
    plt = _figure()
    fig, (latency, heat, clock) = plt.subplots(3, 1, figsize=(8, 6.6), sharex=True,
                                               gridspec_kw={"height_ratios": [2, 1, 1]})
    p50s, p90s = [s["p50_ms"] for s in series], [s["p90_ms"] for s in series]
    top = 1.25 * max(p50s + [sustained["burst_p50_ms"], sustained["sustained_p50_ms"]])
    # a busy machine's p90 can sit far above the p50: clip it rather than flatten the p50 that matters here
    clipped = max(p90s) > 1.5 * top
    latency.plot(t, p90s, color="#bbbbbb", linewidth=0.8,
                 label=f"p90 per interval (up to {max(p90s):.3g} ms, clipped)" if clipped else "p90 per interval")
    latency.plot(t, p50s, color="#1f77b4", linewidth=1.0, label="p50 per interval")
    latency.set_ylim(0, top if clipped else 1.05 * max(top, max(p90s)))
    latency.axhline(sustained["burst_p50_ms"], color="#2ca02c", linestyle="--", linewidth=1,
                    label=f"burst p50 {sustained['burst_p50_ms']:.3f} ms")
    latency.axhline(sustained["sustained_p50_ms"], color="#ff7f0e", linestyle="--", linewidth=1,
                    label=f"sustained p50 {sustained['sustained_p50_ms']:.3f} ms")
    latency.set_ylabel("latency (ms)")
    latency.set_title(title, fontsize=9)
    for axis, key, unit, color in ((heat, "temperature_c", "CPU temp (C)", "#d62728"),
                                   (clock, "frequency_mhz", "CPU freq (MHz)", "#9467bd")):
        values = [s.get(key) for s in series]
        if any(v is not None for v in values):
            axis.plot(t, [float("nan") if v is None else v for v in values], color=color, linewidth=1.0)
        else:
            axis.text(0.5, 0.5, "not readable on this device", transform=axis.transAxes, ha="center",
                      va="center", fontsize=8, color="#777777")
            axis.set_yticks([])
        axis.set_ylabel(unit, fontsize=8)
    onset = sustained.get("throttle_onset_s")
    for axis in (latency, heat, clock):
        axis.grid(True, alpha=0.3)
        if onset is not None:
            axis.axvline(onset, color="#d62728", linestyle=":", linewidth=1.2)
    if onset is not None:
        signal = {"firmware": "firmware flag", "frequency": "frequency drop", "latency": "p50 +10 %"}.get(
            sustained.get("throttle_signal"), "")
        latency.annotate(f"throttle onset {onset:.0f} s" + (f" ({signal})" if signal else ""), (onset, 1.0),
                         xycoords=("data", "axes fraction"),
                         xytext=(4, -12), textcoords="offset points", fontsize=8, color="#d62728")
    latency.legend(fontsize=7, loc="lower left")
    clock.set_xlabel("time since the sustained run began (s)")
    return _png(fig)


def file_name(document: Dict, run: Dict) -> str:
    device, model, config = label(document, run)
    return png_name("sustained", device, model, config)


def html(results: Sequence, out_dir: Optional[Path] = None) -> str:
    """The section as HTML with each plot embedded; each PNG is also written to `out_dir` when given."""
    found = list(sustained_runs(results))
    if not found:
        return ""
    parts = ["<h2 id='sustained'>Sustained runs</h2>",
             html_table(HEADERS, (row(d, r) for d, r in found), table_id="sustained-table")]
    for document, run in found:
        title = " ".join(label(document, run))
        parts.append(plot_figure(plot_png(run, title), out_dir, file_name(document, run), f"{title} sustained run",
                                 f"{title}: {onset_text(run['sustained'])}", css_class="sustained"))
    return "\n".join(parts)
