"""The comparison as a terminal table, Markdown, CSV and JSON."""

from __future__ import annotations

import json
from typing import List, Optional, Sequence

from edgebench.report.compare import DeviceAnswer
from edgebench.report.table import Failure, Row
from edgebench.report.writers import csv_text as table_csv, markdown_table, with_notes

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


def terminal(rows: Sequence[Row], failures: Sequence[Failure] = (), answers: Sequence[DeviceAnswer] = ()) -> str:
    grid = _grid(rows)
    widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]
    lines = []
    for index, line in enumerate(grid):
        lines.append("  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += _notes(rows, failures, answers)
    return "\n".join(lines)


def markdown(rows: Sequence[Row], failures: Sequence[Failure] = (), answers: Sequence[DeviceAnswer] = ()) -> str:
    grid = _grid(rows)
    return with_notes(markdown_table(grid[0], grid[1:]), _notes(rows, failures, answers))


def csv_text(rows: Sequence[Row]) -> str:
    return table_csv(list(Row.__dataclass_fields__), ({**row.as_dict(), "flags": "; ".join(row.flags)} for row in rows))


def json_text(rows: Sequence[Row], failures: Sequence[Failure], answers: Sequence[DeviceAnswer]) -> str:
    return json.dumps({
        "rows": [r.as_dict() for r in rows],
        "failures": [f.__dict__ for f in failures],
        "budget": [{"device": a.device, "max_drop_pp": a.max_drop_pp,
                    "fastest": a.fastest.artifact if a.fastest else None,
                    "smallest": a.smallest.artifact if a.smallest else None,
                    "fastest_model": a.fastest.model if a.fastest else None,
                    "smallest_model": a.smallest.model if a.smallest else None,
                    "reference": "/".join(a.reference) if a.reference else None,
                    "reference_accuracy": a.answer.reference_accuracy, "eval_sha256": a.eval_sha256,
                    "emulated": a.emulated, "withheld": a.answer.withheld} for a in answers],
    }, indent=2) + "\n"


def _describe(row: Optional[Row], drop: Optional[float]) -> str:
    if row is None:
        return "none"
    drop_text = f"{drop:+.2f} pp" if drop is not None else "?"
    size = f"{row.size_mib:.3f} MiB" if row.size_mib is not None else "?"
    return f"{row.model} {row.artifact} ({row.p50_ms:.3f} ms p50, {size}, drop {drop_text})"


def answer_parts(answer: DeviceAnswer) -> List[str]:
    """The answer, then what it was measured against, then what to keep in mind."""
    budget = answer.answer
    if budget.withheld:
        parts = [f"no answer: {budget.withheld}"]
    else:
        def drop(row: Optional[Row]) -> Optional[float]:
            return None if row is None or row.accuracy is None else round(budget.reference_accuracy - row.accuracy, 3)

        parts = [f"fastest {_describe(answer.fastest, drop(answer.fastest))}; "
                 f"smallest {_describe(answer.smallest, drop(answer.smallest))}"]
    if answer.reference is not None:
        accuracy = f", {budget.reference_accuracy:.2f} %" if budget.reference_accuracy is not None else ""
        parts.append(f"reference {answer.reference[0]} {answer.reference[1]}{accuracy}")
    if answer.several_domains:
        shown = answer.eval_sha256[:12] if answer.eval_sha256 else "none recorded"
        parts.append(f"evaluation set {shown}{' (emulated devices)' if answer.emulated else ''}: compared only "
                     "with results on the same set")
    others = answer.other_models()
    if others:
        parts.append(f"the winner is a different model ({', '.join(others)}) from the reference "
                     f"({answer.reference[0]})")
    return parts


def describe_answer(answer: DeviceAnswer) -> str:
    first, *rest = answer_parts(answer)
    return f"within {answer.max_drop_pp} pp on {answer.device}: {first}" + "".join(f" [{part}]" for part in rest)


def _notes(rows: Sequence[Row], failures: Sequence[Failure], answers: Sequence[DeviceAnswer]) -> List[str]:
    notes = []
    notes += [describe_answer(answer) for answer in answers]
    for row in rows:
        for flag in row.flags:
            notes.append(f"flag: {row.device} {row.model} {row.artifact}: {flag}")
    for failure in failures:
        notes.append(f"failed: {failure.device} {failure.model} {failure.artifact}: {failure.error}")
    return [""] + notes if notes else []
