"""A self-contained HTML report: the table, the flags, the budget answer and the plots embedded as PNG."""

from __future__ import annotations

import base64
import datetime as _dt
import html
from typing import Dict, Sequence

from edgebench.report.compare import DeviceAnswer
from edgebench.report.render import COLUMNS, _cell, answer_parts
from edgebench.report.table import Failure, Row

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
"""


def render_html(rows: Sequence[Row], failures: Sequence[Failure], answers: Sequence[DeviceAnswer],
                plots: Dict[str, bytes]) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in COLUMNS)
    body = []
    for row in rows:
        cells = "".join(f'<td class="{"text" if i < 3 else "num"}">{html.escape(_cell(row, key, fmt))}</td>'
                        for i, (key, _, fmt) in enumerate(COLUMNS))
        body.append(f'<tr class="{"flagged" if row.flags else ""}">{cells}</tr>')
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
    parts.append(f"<table id='results'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    notes = [f"{r.device} {r.model} {r.artifact}: {flag}" for r in rows for flag in r.flags]
    notes += [f"failed: {f.device} {f.model} {f.artifact}: {f.error}" for f in failures]
    if notes:
        parts.append("<h2>Flags</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("<h2>Plots</h2>")
    for name, png in plots.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<figure id='{name}'><img alt='{TITLES.get(name, name)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{TITLES.get(name, name)}</figcaption></figure>")
    # Marks on <body> how many plots the browser decoded: lets automation check the page really rendered.
    parts.append("<script>window.addEventListener('load', function () { var ok = 0; "
                 "document.querySelectorAll('figure img').forEach(function (i) { if (i.complete && i.naturalWidth > 0) "
                 "{ ok++; } }); document.body.setAttribute('data-plots-rendered', String(ok)); });</script>")
    parts.append("</body></html>")
    return "\n".join(parts)
