"""`edgebench.report`: compare device results; returns a `Report` (rows, the within-budget answers, flags)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from edgebench.api import rules
from edgebench.api.progress import printer
from edgebench.api.tables import html_table, text_table
from edgebench.errors import BadInputError, require
from edgebench.fileio import check_target, write_bytes, write_text
from edgebench.report import build_rows, load_results, render, within_budget
from edgebench.report.flags import FlagThresholds
from edgebench.report.html import render_html
from edgebench.report.plots import all_plots
from edgebench.report.render import describe_answer

Log = Callable[[str], None]
DEFAULT_MAX_CV = 0.10
DEFAULT_MIN_EVAL_IMAGES = 100
MAX_CV = rules.FiniteFloat(0.0, low_open=True)


@dataclass(frozen=True, kw_only=True)
class Answer:
    """The within-budget answer for one device (and evaluation set): the fastest and the smallest artifact
    within `max_drop_pp` of the reference, as `model/artifact` names; `withheld` says why there is none."""

    device: str
    max_drop_pp: float
    reference: Optional[str]
    fastest: Optional[str]
    smallest: Optional[str]
    withheld: Optional[str]
    text: str

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Report:
    """The comparison: `rows` (one per configuration, with drops, ratios and flags), `answers` per device
    when a budget was given (`answer` when there is one), `failures` (runs that did not measure)."""

    rows: Tuple[Any, ...]
    failures: Tuple[Any, ...] = ()
    device_answers: Tuple[Any, ...] = field(default=(), repr=False)
    results: Tuple[Any, ...] = field(default=(), repr=False)

    @property
    def answers(self) -> Tuple[Answer, ...]:
        return tuple(_answer(answer) for answer in self.device_answers)

    @property
    def answer(self) -> Optional[Answer]:
        """The answer when the report holds exactly one (one device, one evaluation set); else None."""
        answers = self.answers
        return answers[0] if len(answers) == 1 else None

    @property
    def flags(self) -> Dict[str, Tuple[str, ...]]:
        """`model/config on device` -> its flags, for rows that have any."""
        return {_row_name(row): tuple(row.flags) for row in self.rows if row.flags}

    def text(self) -> str:
        return render.terminal(list(self.rows), list(self.failures), list(self.device_answers),
                               results=list(self.results))

    def to_markdown(self, path=None) -> str:
        return _maybe_write(path, render.markdown(list(self.rows), list(self.failures), list(self.device_answers),
                                                  results=list(self.results)))

    def to_csv(self, path=None) -> str:
        return _maybe_write(path, render.csv_text(list(self.rows)))

    def to_json(self, path=None) -> str:
        return _maybe_write(path, render.json_text(list(self.rows), list(self.failures), list(self.device_answers)))

    def plots(self) -> Dict[str, bytes]:
        """The report's plots as PNG bytes, by name."""
        runs = [{**run, "_device": r.document["device"]["name"],
                 "_model": (r.document["bundle"].get("model") or {}).get("name", "?")}
                for r in self.results for run in r.document["runs"] if not run["error"]]
        return all_plots(list(self.rows), runs)

    def to_html(self, path, *, plots: Optional[Dict[str, bytes]] = None, plots_dir=None) -> Path:
        """Write the self-contained HTML report to `path`."""
        write_text(path, render_html(list(self.rows), list(self.failures), list(self.device_answers),
                                     plots if plots is not None else self.plots(), results=list(self.results),
                                     out_dir=plots_dir))
        return Path(path)

    def to_dict(self) -> Dict[str, Any]:
        return json.loads(self.to_json())

    def to_pandas(self):
        """The rows as a pandas DataFrame (pandas is not a dependency: install it to use this)."""
        pandas = require("pandas", "plots")
        return pandas.DataFrame([asdict(row) for row in self.rows])

    def _table(self):
        rows = [(row.device, row.model, row.config or row.artifact, row.threads, row.p50_ms, row.size_mib,
                 row.accuracy, row.drop_pp, row.speedup, ",".join(row.flags) or None) for row in self.rows]
        title = "Report" + "".join(f"; {a.text}" for a in self.answers)
        return title, ("device", "model", "config", "threads", "p50 ms", "MiB", "accuracy %", "drop pp", "speedup",
                       "flags"), rows

    def __repr__(self) -> str:
        return text_table(*self._table())

    def _repr_html_(self) -> str:
        return html_table(*self._table())


def _row_name(row) -> str:
    return f"{row.model}/{row.config or row.artifact} on {row.device}"


def _answer(device_answer) -> Answer:
    inner = device_answer.answer
    name = (lambda c: None if c is None else f"{c.item.model}/{c.item.config or c.item.artifact}")
    return Answer(device=device_answer.device, max_drop_pp=device_answer.max_drop_pp,
                  reference="/".join(device_answer.reference) if device_answer.reference else None,
                  fastest=name(inner.fastest), smallest=name(inner.smallest), withheld=inner.withheld,
                  text=describe_answer(device_answer))


def _maybe_write(path, text: str) -> str:
    if path is not None:
        write_text(path, text)
    return text


def report(results: Union[Any, Sequence[Any]], *, baseline: Optional[str] = None, max_drop: Optional[float] = None,
           max_cv: float = DEFAULT_MAX_CV, min_runs: Optional[int] = None,
           min_eval_images: int = DEFAULT_MIN_EVAL_IMAGES, markdown=None, csv=None, json=None, html=None,
           plots=None, progress: bool = False, on_duplicate: Optional[Callable[[Path, Path], None]] = None) -> Report:
    """Compare device results: `Result` objects, result files, folders or globs (as `edgebench report`).

    `max_drop` (pp, >= 0) asks for the fastest and the smallest artifact within that drop per device;
    `markdown`, `csv`, `json`, `html` and `plots` are output paths (a folder for `plots`), written atomically.
    Raises `BadOptionError` for a bad value, `BadInputError` for unusable results or outputs."""
    log = _printer(progress)
    rules.optional(rules.MAX_DROP, max_drop, "max_drop")
    MAX_CV.check(max_cv, "max_cv")
    thresholds = FlagThresholds(max_cv=float(max_cv), min_eval_images=rules.POSITIVE_INT.check(
        min_eval_images, "min_eval_images"), **({} if min_runs is None else
                                                {"min_runs": rules.POSITIVE_INT.check(min_runs, "min_runs")}))
    inputs = [str(r.path) if hasattr(r, "document") else str(r) for r in _as_list(results)]
    loaded = load_results(inputs, on_duplicate=on_duplicate or (lambda path, first: log(
        f"note: {path} was given twice: read once" if path == first else
        f"note: skipped {path}: the same bytes as {first}")))
    outputs = [Path(p) for p in (markdown, csv, json, html) if p]
    check_outputs(outputs, [r.path for r in loaded])
    rows, failures = build_rows(loaded, baseline, thresholds)
    answers = within_budget(rows, max_drop) if max_drop is not None else []
    made = Report(rows=tuple(rows), failures=tuple(failures), device_answers=tuple(answers), results=tuple(loaded))
    log(made.text())
    if not rows:
        raise BadInputError(f"no artifact was measured in {len(loaded)} result file(s): "
                            f"{len(failures)} failure(s) listed above")
    _write_outputs(made, markdown, csv, json, html, plots, log)
    return made


def _write_outputs(made: Report, markdown, csv, json, html, plots, log: Log) -> None:
    for path, write in ((markdown, made.to_markdown), (csv, made.to_csv), (json, made.to_json)):
        if path:
            write(path)
            log(f"wrote {path}")
    if html or plots:
        figures = made.plots()
        if plots:
            for name, png in figures.items():
                write_bytes(Path(plots) / f"{name}.png", png)
            log(f"wrote {len(figures)} plots to {plots}")
        if html:
            made.to_html(html, plots=figures, plots_dir=plots)
            log(f"wrote {html}")


def check_outputs(outputs: Sequence[Path], inputs: Sequence[Path]) -> None:
    """Refused before anything is written: an output over one of the results read, two outputs on one path,
    an output that is not a regular file (a device, a pipe, a dangling link)."""
    read = {path.resolve(): path for path in inputs}
    seen: Dict[Path, Path] = {}
    for path in outputs:
        check_target(path)
        resolved = path.resolve()
        if resolved in read:
            raise BadInputError(f"{path} is one of the results being read: give the report's output another path")
        if resolved in seen:
            raise BadInputError(f"{path} is given for two outputs: give each output its own path")
        seen[resolved] = path


def _as_list(results) -> List[Any]:
    if isinstance(results, (str, Path)) or hasattr(results, "document"):
        return [results]
    return list(results)


def _printer(progress: bool) -> Log:
    return printer(progress)
