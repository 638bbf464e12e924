"""Per-layer int8 sensitivity in the report: for each model's int8 artifact exported with an accuracy budget
(`edgebench export --int8 --max-drop`), the decision (full int8, the layers kept in float, or refused) and a bar
chart of each layer's sensitivity with the float layers highlighted. Drawn from `run["quantization"]
["mixed_precision"]`, the manifest's record that the agent copies into each run."""

from __future__ import annotations

import html as html_text
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from edgebench.report.plots import _figure, _png
from edgebench.report.writers import html_table, markdown_table, plot_figure, png_name

HEADERS = ("model", "artifact", "decision", "budget pp", "full int8 drop pp", "chosen drop pp", "float layers",
           "calibration", "weights-only drop pp", "search s")
CHART_LAYERS = 30  # the most sensitive layers drawn per model; the rest are named by count
TOP_LAYERS = 5


def records(results: Sequence) -> Iterator[Tuple[str, str, Dict]]:
    """(model, artifact, mixed-precision record), once per model and artifact (settings share an artifact)."""
    seen = set()
    for result in results:
        document = getattr(result, "document", result)
        model = ((document.get("bundle") or {}).get("model") or {}).get("name") or "?"
        for run in document.get("runs") or []:
            record = (run.get("quantization") or {}).get("mixed_precision")
            artifact = run.get("artifact") or "?"
            if isinstance(record, dict) and (model, artifact) not in seen:
                seen.add((model, artifact))
                yield model, artifact, record


def _pp(block: Optional[Dict]) -> str:
    return "-" if not block or block.get("drop_pp") is None else f"{block['drop_pp']:.2f}"


def decision(record: Dict) -> str:
    status = record.get("status") or "?"
    chosen = record.get("chosen") or {}
    if status == "mixed":
        return f"mixed: {len(chosen.get('float_layers', []))} layer(s) in float"
    return status


def row(model: str, artifact: str, record: Dict) -> List[str]:
    chosen = record.get("chosen") or {}
    calibration = record.get("calibration") or {}
    floats = (f"{len(chosen.get('float_layers', []))} of {chosen.get('quantizable_layers', '?')} "
              f"({100 * chosen.get('float_fraction', 0.0):.1f} %)") if chosen else "-"
    method = (f"{calibration.get('method', '?')}, {'per-channel' if calibration.get('per_channel') else 'per-tensor'}"
              if calibration else "-")
    seconds = record.get("search_seconds")
    return [model, artifact, decision(record), f"{record.get('max_drop_pp', 0):g}", _pp(record.get("full_int8")),
            _pp(chosen), floats, method, _pp(record.get("weights_only")),
            "-" if seconds is None else f"{seconds:.1f}"]


def _layer_name(entry: Dict) -> str:
    torch_layer = entry.get("torch_layer")
    return f"{entry['layer']} ({torch_layer})" if torch_layer else entry["layer"]


def markdown(results: Sequence) -> List[str]:
    found = list(records(results))
    if not found:
        return []
    lines = ["## Int8 sensitivity and mixed precision", "",
             "Exported with an accuracy budget (`--max-drop`): drops are top-1 points on the eval set against the "
             "fp32 artifact; float layers are kept out of int8 to stay within the budget.", ""]
    lines += markdown_table(HEADERS, [row(*item) for item in found])
    for model, artifact, record in found:
        floats = set((record.get("chosen") or {}).get("float_layers", []))
        top = [f"{_layer_name(e)} {e['score']:.3g}{' (float)' if e['layer'] in floats else ''}"
               for e in (record.get("sensitivity") or [])[:TOP_LAYERS] if e.get("score") is not None]
        if top:
            lines.append(f"- {model} {artifact}, most sensitive: {'; '.join(top)}")
    method = next((r.get("sensitivity_method") for _, _, r in found if r.get("sensitivity_method")), None)
    if method:
        lines.append(f"- sensitivity: {method}")
    return lines


def plot_png(record: Dict, title: str) -> bytes:
    """Horizontal bars, most sensitive on top, float layers in orange; a log axis, as the figures span decades."""
    entries = [e for e in (record.get("sensitivity") or []) if e.get("score") is not None][:CHART_LAYERS]
    floats = set((record.get("chosen") or {}).get("float_layers", []))
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7.5, 0.24 * max(len(entries), 4) + 1.2))
    scores = [max(e["score"], 1e-12) for e in entries]
    colours = ["#ff7f0e" if e["layer"] in floats else "#1f77b4" for e in entries]
    positions = list(range(len(entries)))[::-1]
    ax.barh(positions, scores, color=colours)
    ax.set_yticks(positions)
    ax.set_yticklabels([_layer_name(e) for e in entries], fontsize=7)
    if scores and max(scores) / min(scores) > 100:
        ax.set_xscale("log")
    total = len(record.get("sensitivity") or [])
    more = f" (top {len(entries)} of {total})" if total > len(entries) else ""
    ax.set_xlabel(f"sensitivity{more}; orange: kept in float", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def file_name(model: str, artifact: str) -> str:
    return png_name("sensitivity", model, artifact)


def html(results: Sequence, out_dir: Optional[Path] = None) -> str:
    """The section as HTML with each chart embedded; each PNG is also written to `out_dir` when given."""
    found = list(records(results))
    if not found:
        return ""
    parts = ["<h2 id='sensitivity'>Int8 sensitivity and mixed precision</h2>",
             html_table(HEADERS, (row(*item) for item in found), table_id="sensitivity-table")]
    for model, artifact, record in found:
        if not any(e.get("score") is not None for e in record.get("sensitivity") or []):
            continue
        title = f"{model} {artifact}: {decision(record)}"
        parts.append(plot_figure(plot_png(record, title), out_dir, file_name(model, artifact),
                                 f"{title} sensitivity", title, css_class="sensitivity"))
    method = next((r.get("sensitivity_method") for _, _, r in found if r.get("sensitivity_method")), None)
    if method:
        parts.append(f"<p class='note'>Sensitivity: {html_text.escape(method)}</p>")
    return "\n".join(parts)
