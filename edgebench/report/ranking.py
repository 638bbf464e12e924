"""Confidence and ranking: per result, each configuration's p50 with its 95 % interval and stability, the
ranking against the fastest ("faster" / "slower" / "indistinguishable"), the fastest setting of each
artifact in a settings sweep, and the same configuration compared across results (unpaired).

A fastest configuration is named only when the data separates it from every other one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from device_agent.stats import MIN_EFFECT
from edgebench.report.intervals import PAIRED_METHOD, UNPAIRED_METHOD, Contest, contest
from edgebench.report.table import Row
from edgebench.report.writers import markdown_table

HEADERS = ("configuration", "p50 ms", "95 % CI ms", "± %", "stability", "against the fastest")
EXPLANATION = (f"p50 with its 95 % confidence interval; ratios are latency against the fastest (above 1: slower). "
               f"Within one result: {PAIRED_METHOD}. A difference counts when the interval excludes 1 and the "
               f"ratio is beyond {MIN_EFFECT:.0%}; otherwise the two are indistinguishable.")


def by_result(rows: Sequence[Row]) -> Dict[Tuple[str, str, str], List[Row]]:
    """Rows grouped by the result they came from: (device, model, source file)."""
    groups: Dict[Tuple[str, str, str], List[Row]] = {}
    for row in rows:
        groups.setdefault((row.device, row.model, row.source), []).append(row)
    return dict(sorted(groups.items()))


def _interval(row: Row) -> str:
    return f"[{row.p50_ci95[0]:.3f}, {row.p50_ci95[1]:.3f}]" if row.p50_ci95 else "-"


def _against(row: Row, found: Contest) -> str:
    if row is found.fastest:
        if found.separated:
            return "fastest"
        return "reference (lowest median of rounds)" if row.rounds_ms else "reference (lowest p50)"
    for comparison in found.comparisons:
        if comparison.other is row:
            return f"{comparison.verdict} {comparison.interval_text()}"
    return "not tested (no rounds)"


@dataclass(frozen=True, kw_only=True)
class ResultTable:
    """One result's configurations: a title, the table's cells and the verdict lines under it."""

    title: str
    cells: List[List[str]]
    notes: List[str]


def result_table(rows: Sequence[Row]) -> ResultTable:
    found = contest(rows)
    first = rows[0]
    rounds = max(len(row.rounds_ms) for row in rows)
    how = (f"{rounds} {'interleaved ' if first.interleaved else ''}rounds" if rounds
           else "measured without rounds: no confidence interval")
    ordered = [found.fastest] + [c.other for c in found.comparisons] + list(found.untested)
    cells = [[row.label, f"{row.p50_ms:.3f}", _interval(row),
              f"{row.ci_half_width_pct:.1f}" if row.ci_half_width_pct is not None else "-",
              f"{row.stability}: {row.stability_reason}" if row.stability else "-", _against(row, found)]
             for row in ordered]
    notes = [found.describe()] if len(rows) > 1 else []
    return ResultTable(title=f"{first.device} {first.model} ({Path(first.source).name}): {how}", cells=cells,
                       notes=notes + sweep_lines(rows))


def tables(rows: Sequence[Row]) -> List[ResultTable]:
    return [result_table(group) for group in by_result(rows).values()]


def sweep_lines(rows: Sequence[Row]) -> List[str]:
    """The fastest setting of each artifact measured under several settings in one result."""
    lines = []
    artifacts = sorted({row.artifact for row in rows})
    for artifact in artifacts:
        settings = [row for row in rows if row.artifact == artifact]
        if len({row.setting for row in settings}) < 2:  # one setting (repeats of an artifact are no sweep)
            continue
        found = contest(settings)
        if found.separated:
            fastest = found.fastest
            interval = f" {_interval(fastest)} ms" if fastest.p50_ci95 else ""
            lines.append(f"fastest setting of {artifact}: {fastest.label} (p50 {fastest.p50_ms:.3f}{interval}); "
                         f"next {found.comparisons[0].other.label} ratio {found.comparisons[0].interval_text()}")
        else:
            lines.append(f"settings of {artifact}: {found.describe()}")
    return lines


def cross_result_lines(rows: Sequence[Row]) -> List[str]:
    """The same configuration of the same model measured in several results (devices, runs): unpaired."""
    groups: Dict[Tuple, List[Row]] = {}
    for row in rows:
        groups.setdefault((row.model, row.label, row.emulated), []).append(row)
    lines = []
    for (model, label, _), group in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1])):
        if len({row.source for row in group}) < 2:
            continue
        found = contest(group)
        lines.append(f"{model} {label} across results: "
                     f"{found.describe(name=lambda row: f'{row.device} ({Path(row.source).name})')}")
    return lines


def markdown_lines(rows: Sequence[Row]) -> List[str]:
    """The whole section, or nothing when there are no rows."""
    if not rows:
        return []
    lines = ["## Confidence and ranking", "", EXPLANATION, ""]
    for table in tables(rows):
        lines += [f"### {table.title}", ""] + markdown_table(HEADERS, table.cells)
        lines += ([""] + [f"- {note}" for note in table.notes] if table.notes else []) + [""]
    across = cross_result_lines(rows)
    if across:
        lines += ["### Across results", "", f"Not interleaved: {UNPAIRED_METHOD}.", ""]
        lines += [f"- {line}" for line in across] + [""]
    return lines


def json_data(rows: Sequence[Row]) -> List[Dict]:
    """Per result: the ranking as data (the report's JSON output)."""
    out = []
    for (device, model, source), group in by_result(rows).items():
        found = contest(group)
        out.append({
            "device": device, "model": model, "source": source,
            "fastest": found.fastest.label if found.separated else None,
            "reference": found.fastest.label, "separated": found.separated,
            "entries": [{"config": c.other.label, "ratio": round(c.ratio, 5),
                         "ratio_ci95": [round(c.lo, 5), round(c.hi, 5)], "verdict": c.verdict, "paired": c.paired}
                        for c in found.comparisons],
            "untested": [row.label for row in found.untested],
        })
    return out
