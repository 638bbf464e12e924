from __future__ import annotations

import math
from pathlib import Path

import click

from device_agent.protocol import TimingSettings


@click.command("report")
@click.argument("results", nargs=-1, required=True)
@click.option("--baseline", help="reference artifact, ARTIFACT or MODEL/ARTIFACT (default: the fp32 ONNX of the most "
              "accurate model on each evaluation set)")
@click.option("--max-drop", type=float, help="name the fastest and smallest artifact within this many pp of the "
              "reference's accuracy, per device and evaluation set")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), help="also write a Markdown table")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="also write CSV")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="also write JSON")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="also write a self-contained HTML report")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), help="also write the plots as PNG here")
@click.option("--max-cv", type=float, default=0.10, show_default=True, help="flag latency CV above this")
@click.option("--min-runs", type=int, default=TimingSettings().min_runs, show_default=True, help="flag fewer timed runs than this")
@click.option("--min-eval-images", type=int, default=100, show_default=True,
              help="flag accuracies measured on fewer images than this")
def command(results, baseline, max_drop, markdown_path, csv_path, json_path, html_path, plots_dir, max_cv, min_runs,
            min_eval_images) -> None:
    """Compare device results (files, folders or globs) across models, formats, precisions and devices.

    Accuracy drops are measured against one reference per evaluation set; results on different evaluation
    sets, and emulated devices against real ones, are never compared."""
    from edgebench.errors import EdgebenchError
    from edgebench.fileio import write_bytes, write_text
    from edgebench.report import build_rows, load_results, render, within_budget
    from edgebench.report.flags import FlagThresholds

    if max_drop is not None and (not math.isfinite(max_drop) or max_drop < 0):
        raise EdgebenchError(f"--max-drop {max_drop} is out of range: give a drop in pp of 0 or more")
    if not math.isfinite(max_cv) or max_cv <= 0:
        raise EdgebenchError(f"--max-cv {max_cv} is out of range: give a positive number (0.10 is 10 %)")
    for flag, value in (("--min-runs", min_runs), ("--min-eval-images", min_eval_images)):
        if value < 1:
            raise EdgebenchError(f"{flag} {value} is out of range: give 1 or more")
    loaded = load_results(results, on_duplicate=lambda path, first: click.echo(
        f"note: {path} was given twice: read once" if path == first else
        f"note: skipped {path}: the same bytes as {first}", err=True))
    outputs = [Path(p) for p in (markdown_path, csv_path, json_path, html_path) if p]
    _check_outputs(outputs, [r.path for r in loaded])
    thresholds = FlagThresholds(max_cv=max_cv, min_runs=min_runs, min_eval_images=min_eval_images)
    rows, failures = build_rows(loaded, baseline, thresholds)
    answers = within_budget(rows, max_drop) if max_drop is not None else []
    click.echo(render.terminal(rows, failures, answers, results=loaded))
    if not rows:
        raise EdgebenchError(f"no artifact was measured in {len(loaded)} result file(s): "
                             f"{len(failures)} failure(s) listed above")
    for path, text in ((markdown_path, lambda: render.markdown(rows, failures, answers, results=loaded)),
                       (csv_path, lambda: render.csv_text(rows)),
                       (json_path, lambda: render.json_text(rows, failures, answers))):
        if path:
            write_text(path, text())
            click.echo(f"wrote {path}")
    if html_path or plots_dir:
        from edgebench.report.plots import all_plots

        runs = [{**run, "_device": r.document["device"]["name"],
                 "_model": (r.document["bundle"].get("model") or {}).get("name", "?")}
                for r in loaded for run in r.document["runs"] if not run["error"]]
        plots = all_plots(rows, runs)
        if plots_dir:
            for name, png in plots.items():
                write_bytes(Path(plots_dir) / f"{name}.png", png)
            click.echo(f"wrote {len(plots)} plots to {plots_dir}")
        if html_path:
            from edgebench.report.html import render_html

            write_text(html_path, render_html(rows, failures, answers, plots, results=loaded,
                                                 out_dir=plots_dir))
            click.echo(f"wrote {html_path}")


def _check_outputs(outputs, inputs) -> None:
    """Refused before anything is written: an output over one of the results read, two outputs on one path,
    an output that is not a regular file (a device, a pipe, a dangling link)."""
    from edgebench.errors import EdgebenchError
    from edgebench.fileio import check_target

    read = {path.resolve(): path for path in inputs}
    seen = {}
    for path in outputs:
        check_target(path)
        resolved = path.resolve()
        if resolved in read:
            raise EdgebenchError(f"{path} is one of the results being read: give the report's output another path")
        if resolved in seen:
            raise EdgebenchError(f"{path} is given for two outputs: give each output its own path")
        seen[resolved] = path
