"""The comparison as a terminal table, Markdown, CSV and JSON."""

from __future__ import annotations

import json
from typing import List, Optional, Sequence

from edgebench.report import ranking, sections
from edgebench.report.compare import DeviceAnswer
from edgebench.report.flags import grouped_notes, tail_ratio
from edgebench.report.load import LoadedResult
from edgebench.report.table import Failure, Row
from edgebench.report.writers import csv_text as table_csv, markdown_table, with_notes

COLUMNS = [
    ("device", "device", "{}"), ("model", "model", "{}"), ("artifact", "artifact", "{}"),
    ("threads", "thr", "{}"), ("size_mib", "size MiB", "{:.3f}"), ("accuracy", "acc %", "{:.2f}"),
    ("drop_pp", "drop pp", "{:+.2f}"), ("p50_ms", "p50 ms", "{:.3f}"), ("p50_ci95", "95 % CI", "[{:.3f}, {:.3f}]"),
    ("stability", "stability", "{}"), ("p90_ms", "p90 ms", "{:.3f}"), ("tail", "p90/p50", "{:.2f}x"),
    ("speedup", "speedup", "{:.2f}x"), ("size_ratio", "smaller", "{:.2f}x"), ("peak_rss_mb", "peak MB", "{:.1f}"),
    ("flags", "flags", "{}"),
]


def _cell(row: Row, key: str, fmt: str) -> str:
    value = row.label if key == "artifact" else tail_ratio(row) if key == "tail" else getattr(row, key)
    if key == "flags":
        return f"{len(value)} (see below)" if value else ""
    if value is None:
        return "-"
    if key == "speedup" and row.speedup_verdict == "indistinguishable":
        return fmt.format(value) + " ~"
    return fmt.format(*value) if isinstance(value, tuple) else fmt.format(value)


def _grid(rows: Sequence[Row]) -> List[List[str]]:
    return [[title for _, title, _ in COLUMNS]] + [[_cell(r, k, f) for k, _, f in COLUMNS] for r in rows]


def terminal(rows: Sequence[Row], failures: Sequence[Failure] = (), answers: Sequence[DeviceAnswer] = (),
             results: Sequence[LoadedResult] = ()) -> str:
    grid = _grid(rows)
    widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]
    lines = []
    for index, line in enumerate(grid):
        lines.append("  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += _notes(rows, failures, answers)
    lines += [""] + _sections(rows, results) if rows else []
    return "\n".join(lines).rstrip("\n")


def markdown(rows: Sequence[Row], failures: Sequence[Failure] = (), answers: Sequence[DeviceAnswer] = (),
             results: Sequence[LoadedResult] = ()) -> str:
    grid = _grid(rows)
    text = with_notes(markdown_table(grid[0], grid[1:]), _notes(rows, failures, answers))
    extra = _sections(rows, results)
    return text + "\n" + "\n".join(extra).rstrip("\n") + "\n" if extra else text


def _sections(rows: Sequence[Row], results: Sequence[LoadedResult]) -> List[str]:
    """Confidence and ranking from the rows; sustained runs, profiles and sensitivity from the results."""
    return ranking.markdown_lines(rows) + sections.markdown_lines(results)


def csv_text(rows: Sequence[Row]) -> str:
    def flat(row: Row) -> dict:
        values = row.as_dict()
        values["flags"] = "; ".join(row.flags)
        values["p50_ci95"] = " ".join(f"{v:g}" for v in row.p50_ci95) if row.p50_ci95 else None
        values["rounds_ms"] = " ".join(f"{v:g}" for v in row.rounds_ms)
        return values

    return table_csv(list(Row.__dataclass_fields__), (flat(row) for row in rows))


def json_text(rows: Sequence[Row], failures: Sequence[Failure], answers: Sequence[DeviceAnswer]) -> str:
    return json.dumps({
        "rows": [r.as_dict() for r in rows],
        "failures": [f.__dict__ for f in failures],
        "comparisons": ranking.json_data(rows),
        "budget": [{"device": a.device, "max_drop_pp": a.max_drop_pp,
                    "fastest": _winner(a).label if _winner(a) else None,
                    "lowest_p50": a.fastest.label if a.fastest else None,
                    "fastest_separated": None if a.race is None or a.race.untested or not a.race.comparisons
                    else a.race.separated,
                    "indistinguishable": [c.other.label for c in a.race.ties] if a.race else [],
                    "smallest": a.smallest.artifact if a.smallest else None,
                    "fastest_model": _winner(a).model if _winner(a) else None,
                    "smallest_model": a.smallest.model if a.smallest else None,
                    "reference": "/".join(a.reference) if a.reference else None,
                    "reference_accuracy": a.answer.reference_accuracy, "eval_sha256": a.eval_sha256,
                    "emulated": a.emulated, "withheld": a.answer.withheld} for a in answers],
    }, indent=2) + "\n"


def _winner(answer: DeviceAnswer) -> Optional[Row]:
    """The fastest that may be named: separated from the others, or (results without rounds) not testable."""
    race = answer.race
    if race is not None and race.separated:
        return race.fastest
    return answer.fastest if race is None or race.untested or not race.comparisons else None


def _describe(row: Optional[Row], drop: Optional[float]) -> str:
    if row is None:
        return "none"
    drop_text = f"{drop:+.2f} pp" if drop is not None else "?"
    size = f"{row.size_mib:.3f} MiB" if row.size_mib is not None else "?"
    return f"{row.model} {row.label} ({row.p50_ms:.3f} ms p50, {size}, drop {drop_text})"


def _fastest(answer: DeviceAnswer, drop) -> str:
    """The fastest, named only when the data separates it from the other candidates within the budget."""
    race = answer.race
    if answer.fastest is None or race is None or race.untested or not race.comparisons:
        return f"fastest {_describe(answer.fastest, drop(answer.fastest))}"
    if race.separated:
        closest = race.comparisons[0]
        return (f"fastest {_describe(race.fastest, drop(race.fastest))}, separated from the runner-up "
                f"{closest.other.model} {closest.other.label} (ratio {closest.interval_text()}"
                f"{'' if closest.paired else ', unpaired'})")
    return f"fastest: {race.describe(name=lambda row: f'{row.model} {row.label}')}"


def answer_parts(answer: DeviceAnswer) -> List[str]:
    """The answer, then what it was measured against, then what to keep in mind."""
    budget = answer.answer
    if budget.withheld:
        parts = [f"no answer: {budget.withheld}"]
    else:
        def drop(row: Optional[Row]) -> Optional[float]:
            return None if row is None or row.accuracy is None else round(budget.reference_accuracy - row.accuracy, 3)

        parts = [f"{_fastest(answer, drop)}; smallest {_describe(answer.smallest, drop(answer.smallest))}"]
        race = answer.race
        if race is not None and race.untested and answer.fastest is not None:
            parts.append("fastest by p50 alone: measured without rounds, so there is no confidence interval to "
                         "test it against the others")
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


SPEEDUP_LEGEND = ("speedup marked ~: indistinguishable from the reference (its 95 % interval of the latency ratio "
                  "does not separate them; see Confidence and ranking)")


def _notes(rows: Sequence[Row], failures: Sequence[Failure], answers: Sequence[DeviceAnswer]) -> List[str]:
    notes = [SPEEDUP_LEGEND] if any(row.speedup_verdict == "indistinguishable" for row in rows) else []
    notes += [describe_answer(answer) for answer in answers]
    notes += [f"flag: {note}" for note in grouped_notes(rows)]
    for failure in failures:
        notes.append(f"failed: {failure.device} {failure.model} {failure.artifact}: {failure.error}")
    return [""] + notes if notes else []
