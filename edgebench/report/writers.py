"""Markdown, CSV and HTML pieces, written once for the report, the ablation table and the pruning study."""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from pathlib import Path
from typing import Iterable, List, Mapping, Optional, Sequence

from edgebench.fileio import write_bytes


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
               cell_class: str = "text", column_classes: Optional[Sequence[str]] = None,
               row_classes: Optional[Sequence[str]] = None) -> str:
    """A table of text cells, every header and cell escaped. `column_classes`: a class per column ("" for none)
    instead of `cell_class` for all; `row_classes`: a class per row (each row then carries the attribute)."""
    attributes = (f" id='{table_id}'" if table_id else "") + (f" class='{css_class}'" if css_class else "")
    head = "".join(f"<th>{html.escape(str(title))}</th>" for title in headers)
    rows = []
    for index, row in enumerate(cells):
        tds = []
        for column, cell in enumerate(row):
            name = column_classes[column] if column_classes is not None else cell_class
            tds.append(f"<td class='{name}'>" if name else "<td>")
            tds.append(f"{html.escape(str(cell))}</td>")
        opening = f"<tr class='{row_classes[index]}'>" if row_classes is not None else "<tr>"
        rows.append(opening + "".join(tds) + "</tr>")
    return f"<table{attributes}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def figure_png(figure, dpi: int, tight: bool = True) -> bytes:
    """A matplotlib figure as PNG bytes, then closed: the one way a report, a study or an ablation makes a plot."""
    import matplotlib.pyplot as plt  # the plots extra: imported by whoever drew the figure already

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    plt.close(figure)
    return buffer.getvalue()


def png_name(prefix: str, *parts: str) -> str:
    """A file name for a plot, safe on any file system: `prefix-part-part.png`."""
    return f"{prefix}-" + re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts)).strip("-") + ".png"


def plot_figure(png: bytes, out_dir, name: str, alt: str, caption: str, css_class: str = "") -> str:
    """The plot embedded in HTML; also written to `out_dir/name` when a folder is given."""
    if out_dir is not None:
        write_bytes(Path(out_dir) / name, png)
    return html_figure(png, alt, caption, css_class)


def html_figure(png: bytes, alt: str, caption: str, css_class: str = "", figure_id: str = "") -> str:
    """A PNG embedded as a data URL, with its caption."""
    data = base64.b64encode(png).decode("ascii")
    attributes = (f" id='{figure_id}'" if figure_id else "") + (f" class='{css_class}'" if css_class else "")
    return (f"<figure{attributes}><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
