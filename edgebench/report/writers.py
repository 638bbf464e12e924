"""Markdown, CSV and HTML pieces, written once for the report, the ablation table and the pruning study."""

from __future__ import annotations

import base64
import csv
import html
import io
import re
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


def html_table(headers: Sequence[str], cells: Iterable[Sequence[str]], table_id: str = "", css_class: str = "",
               cell_class: str = "text") -> str:
    """A table of text cells, every header and cell escaped."""
    attributes = (f" id='{table_id}'" if table_id else "") + (f" class='{css_class}'" if css_class else "")
    head = "".join(f"<th>{html.escape(str(title))}</th>" for title in headers)
    body = "".join("<tr>" + "".join(f"<td class='{cell_class}'>{html.escape(str(cell))}</td>" for cell in row)
                   + "</tr>" for row in cells)
    return f"<table{attributes}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def png_name(prefix: str, *parts: str) -> str:
    """A file name for a plot, safe on any file system: `prefix-part-part.png`."""
    return f"{prefix}-" + re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts)).strip("-") + ".png"


def plot_figure(png: bytes, out_dir, name: str, alt: str, caption: str, css_class: str = "") -> str:
    """The plot embedded in HTML; also written to `out_dir/name` when a folder is given."""
    if out_dir is not None:
        from pathlib import Path

        from edgebench.fileio import write_bytes

        write_bytes(Path(out_dir) / name, png)
    return html_figure(png, alt, caption, css_class)


def html_figure(png: bytes, alt: str, caption: str, css_class: str = "") -> str:
    """A PNG embedded as a data URL, with its caption."""
    data = base64.b64encode(png).decode("ascii")
    attributes = f" class='{css_class}'" if css_class else ""
    return (f"<figure{attributes}><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
