"""Cold start in the report: per configuration, process start to first result next to its parts (runtime
import, model load, first inference) and the steady-state p50, from each run's `cold_start_ms`."""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from edgebench.report.sustained import documents, label
from edgebench.report.writers import html_table, markdown_table

HEADERS = ("device", "model", "configuration", "process start to first result ms", "runtime import ms",
           "model load ms", "first inference ms", "steady p50 ms")
NOTE = ("Process start to first result: from starting the measuring process to its first inference's output, "
        "as a user's program would see it; the rest of that time is the interpreter and numpy starting.")


def cold_runs(results: Sequence) -> Iterator[Tuple[Dict, Dict]]:
    """(document, run) for every finished run that recorded its cold start."""
    for document in documents(results):
        for run in document.get("runs") or []:
            if not run.get("error") and isinstance(run.get("cold_start_ms"), dict):
                yield document, run


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.3f}"


def row(document: Dict, run: Dict) -> List[str]:
    cold = run["cold_start_ms"]
    return [*label(document, run), _ms(cold.get("process_start_to_first_result")), _ms(cold.get("import")),
            _ms(cold.get("load")), _ms(cold.get("first_inference")),
            _ms((run.get("latency_ms") or {}).get("p50"))]


def markdown(results: Sequence) -> List[str]:
    rows = [row(document, run) for document, run in cold_runs(results)]
    if not rows:
        return []
    return ["## Cold start", "", NOTE, ""] + markdown_table(HEADERS, rows)


def html(results: Sequence, out_dir=None) -> str:
    rows = [row(document, run) for document, run in cold_runs(results)]
    if not rows:
        return ""
    return "\n".join(["<h2 id='cold-start'>Cold start</h2>", f"<p>{NOTE}</p>",
                      html_table(HEADERS, rows, table_id="cold-start-table")])
