"""A self-contained HTML report: the table, the flags, the budget answer, the confidence and ranking section,
the sections on sustained runs, profiles and sensitivity where present, and the plots embedded as PNG."""

from __future__ import annotations

import datetime as _dt
import html
from typing import Dict, List, Optional, Sequence

from edgebench.report import interactive, ranking, sections
from edgebench.report.compare import DeviceAnswer
from edgebench.report.flags import grouped_notes
from edgebench.report.intervals import UNPAIRED_METHOD
from edgebench.report.load import LoadedResult
from edgebench.report.render import COLUMNS, SPEEDUP_LEGEND, _cell, answer_parts
from edgebench.report.table import Failure, Row
from edgebench.report.writers import html_figure, html_table

TITLES = {
    "accuracy_vs_latency": "Accuracy against p50 latency",
    "accuracy_vs_size": "Accuracy against size",
    "latency_distributions": "Latency distributions",
    "per_device": "p50 latency per device",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f0f0f0; }
td.text { text-align: left; }
tr.flagged td { background: #fff4e0; }
.answer { background: #eef6ee; padding: 0.5rem 1rem; border-left: 4px solid #4a4; }
figure { display: inline-block; margin: 1rem 1rem 0 0; }
p.verdict { font-weight: 600; }
"""


def confidence_html(rows: Sequence[Row]) -> List[str]:
    """The confidence and ranking section: a table per result, its verdict lines, then across results."""
    if not rows:
        return []
    parts = ["<h2>Confidence and ranking</h2>", f"<p>{html.escape(ranking.EXPLANATION)}</p>"]
    classes = ["text" if i in (0, 4, 5) else "num" for i in range(len(ranking.HEADERS))]
    for table in ranking.tables(rows):
        parts.append(f"<h3>{html.escape(table.title)}</h3>"
                     + html_table(ranking.HEADERS, table.cells, css_class="ranking", column_classes=classes))
        parts += [f"<p class='verdict'>{html.escape(note)}</p>" for note in table.notes]
    across = ranking.cross_result_lines(rows)
    if across:
        parts.append(f"<h3>Across results</h3><p>Not interleaved: {html.escape(UNPAIRED_METHOD)}.</p><ul>"
                     + "".join(f"<li>{html.escape(line)}</li>" for line in across) + "</ul>")
    return parts


def render_html(rows: Sequence[Row], failures: Sequence[Failure], answers: Sequence[DeviceAnswer],
                plots: Dict[str, bytes], results: Sequence[LoadedResult] = (), out_dir: Optional[str] = None) -> str:
    results_table = html_table([title for _, title, _ in COLUMNS],
                               [[_cell(row, key, fmt) for key, _, fmt in COLUMNS] for row in rows], table_id="results",
                               column_classes=["text" if i < 3 else "num" for i in range(len(COLUMNS))],
                               row_classes=["flagged" if row.flags else "" for row in rows])
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>edgebench report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>edgebench report</h1>",
        f"<p>{len(rows)} measured artifacts on {len({r.device for r in rows})} device(s); generated "
        f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}.</p>",
    ]
    for answer in answers:
        first, *rest = answer_parts(answer)
        extra = "".join(f"<br><small>{html.escape(part)}</small>" for part in rest)
        parts.append(f"<p class='answer'>Within {answer.max_drop_pp} pp on <b>{html.escape(answer.device)}</b>: "
                     f"{html.escape(first)}.{extra}</p>")
    parts.append(results_table)
    if any(row.speedup_verdict == "indistinguishable" for row in rows):
        parts.append(f"<p><small>{html.escape(SPEEDUP_LEGEND)}</small></p>")
    notes = grouped_notes(rows)  # a flag several rows share is said once, with the rows it applies to
    notes += [f"failed: {f.device} {f.model} {f.artifact}: {f.error}" for f in failures]
    if notes:
        parts.append("<h2>Flags</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts += confidence_html(rows)
    parts += sections.html_parts(results, out_dir)
    parts.append("<h2>Plots</h2>")
    parts += interactive.html_parts(rows)  # the explorable charts first; the PNGs below are for print and Markdown
    parts += [html_figure(png, TITLES.get(name, name), TITLES.get(name, name), figure_id=name)
              for name, png in plots.items()]
    # Marks on <body> how many plots the browser decoded: lets automation check the page really rendered.
    parts.append("<script>window.addEventListener('load', function () { var ok = 0; "
                 "document.querySelectorAll('figure img').forEach(function (i) { if (i.complete && i.naturalWidth > 0) "
                 "{ ok++; } }); document.body.setAttribute('data-plots-rendered', String(ok)); });</script>")
    parts.append("</body></html>")
    return "\n".join(parts)
