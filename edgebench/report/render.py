"""The comparison as a terminal table, Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import List, Optional, Sequence

from edgebench.report.table import BudgetAnswer, Failure, Row

COLUMNS = [
    ("device", "device", "{}"), ("model", "model", "{}"), ("artifact", "artifact", "{}"),
    ("threads", "thr", "{}"), ("size_mib", "size MiB", "{:.3f}"), ("accuracy", "acc %", "{:.2f}"),
    ("drop_pp", "drop pp", "{:+.2f}"), ("p50_ms", "p50 ms", "{:.3f}"), ("p90_ms", "p90 ms", "{:.3f}"),
    ("speedup", "speedup", "{:.2f}x"), ("size_ratio", "smaller", "{:.2f}x"), ("peak_rss_mb", "peak MB", "{:.1f}"),
    ("flags", "flags", "{}"),
]


def _cell(row: Row, key: str, fmt: str) -> str:
    value = getattr(row, key)
    if key == "flags":
        return f"{len(value)} (see below)" if value else ""
    return "-" if value is None else fmt.format(value)


def _grid(rows: Sequence[Row]) -> List[List[str]]:
    return [[title for _, title, _ in COLUMNS]] + [[_cell(r, k, f) for k, _, f in COLUMNS] for r in rows]


def terminal(rows: Sequence[Row], failures: Sequence[Failure] = (), answers: Sequence[BudgetAnswer] = ()) -> str:
    grid = _grid(rows)
    widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]
    lines = []
    for index, line in enumerate(grid):
        lines.append("  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += _notes(rows, failures, answers)
    return "\n".join(lines)


def markdown(rows: Sequence[Row], failures: Sequence[Failure] = (), answers: Sequence[BudgetAnswer] = ()) -> str:
    grid = _grid(rows)
    lines = ["| " + " | ".join(grid[0]) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(line) + " |" for line in grid[1:]]
    notes = _notes(rows, failures, answers)
    return "\n".join(lines + ([""] + [f"- {n.strip()}" for n in notes if n.strip()] if notes else [])) + "\n"


def csv_text(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    fields = list(Row.__dataclass_fields__)
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row.as_dict(), "flags": "; ".join(row.flags)})
    return buffer.getvalue()


def json_text(rows: Sequence[Row], failures: Sequence[Failure], answers: Sequence[BudgetAnswer]) -> str:
    return json.dumps({
        "rows": [r.as_dict() for r in rows],
        "failures": [f.__dict__ for f in failures],
        "budget": [{"device": a.device, "max_drop_pp": a.max_drop_pp,
                    "fastest": a.fastest.artifact if a.fastest else None,
                    "smallest": a.smallest.artifact if a.smallest else None} for a in answers],
    }, indent=2) + "\n"


def _describe(row: Optional[Row]) -> str:
    if row is None:
        return "none"
    drop = f"{row.drop_pp:+.2f} pp" if row.drop_pp is not None else "?"
    size = f"{row.size_mib:.3f} MiB" if row.size_mib is not None else "?"
    return f"{row.model} {row.artifact} ({row.p50_ms:.3f} ms p50, {size}, drop {drop})"


def _notes(rows: Sequence[Row], failures: Sequence[Failure], answers: Sequence[BudgetAnswer]) -> List[str]:
    notes = []
    for answer in answers:
        notes.append(f"within {answer.max_drop_pp} pp on {answer.device}: fastest {_describe(answer.fastest)}; "
                     f"smallest {_describe(answer.smallest)}")
    for row in rows:
        for flag in row.flags:
            notes.append(f"flag: {row.device} {row.model} {row.artifact}: {flag}")
    for failure in failures:
        notes.append(f"failed: {failure.device} {failure.model} {failure.artifact}: {failure.error}")
    return [""] + notes if notes else []
