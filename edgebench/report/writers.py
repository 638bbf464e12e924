"""Markdown and CSV tables, written once for the report, the ablation table and the pruning study."""

from __future__ import annotations

import csv
import io
from typing import Iterable, List, Mapping, Sequence


def markdown_table(headers: Sequence[str], cells: Iterable[Sequence[str]]) -> List[str]:
    """The lines of a Markdown table: a header row, its rule, one line per row of cells."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in cells]


def with_notes(lines: List[str], notes: Sequence[str]) -> str:
    """A document: the lines, then each note as a bullet after a blank line; ends with a newline."""
    notes = [note.strip() for note in notes if note.strip()]
    return "\n".join(lines + ([""] + [f"- {note}" for note in notes] if notes else [])) + "\n"


def csv_text(fieldnames: Sequence[str], rows: Iterable[Mapping]) -> str:
    """CSV through the csv module (quoting included); keys a row has beyond `fieldnames` are left out."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
