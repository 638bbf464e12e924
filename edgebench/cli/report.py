from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("results", nargs=-1, required=True)
@click.option("--baseline", help="artifact to compare against (default: the fp32 ONNX of the same model)")
@click.option("--max-drop", type=float, help="name the fastest and smallest artifact within this many pp of the "
              "baseline's accuracy, per device")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), help="also write a Markdown table")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="also write CSV")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="also write JSON")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="also write a self-contained HTML report")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), help="also write the plots as PNG here")
@click.option("--max-cv", type=float, default=0.10, show_default=True, help="flag latency CV above this")
@click.option("--min-runs", type=int, default=50, show_default=True, help="flag fewer timed runs than this")
@click.option("--min-eval-images", type=int, default=100, show_default=True,
              help="flag accuracies measured on fewer images than this")
def command(results, baseline, max_drop, markdown_path, csv_path, json_path, html_path, plots_dir, max_cv, min_runs,
            min_eval_images) -> None:
    """Compare device results (files, folders or globs) across models, formats, precisions and devices."""
    from edgebench.errors import EdgebenchError
    from edgebench.fileio import write_bytes, write_text
    from edgebench.report import build_rows, load_results, within_budget
    from edgebench.report import render
    from edgebench.report.flags import FlagThresholds

    if max_drop is not None and max_drop < 0:
        raise EdgebenchError(f"--max-drop {max_drop} is out of range: give a drop in pp of 0 or more")
    if max_cv <= 0 or min_runs < 1 or min_eval_images < 1:
        raise EdgebenchError("--max-cv must be positive and --min-runs / --min-eval-images at least 1")
    loaded = load_results(results)
    rows, failures = build_rows(loaded, baseline, FlagThresholds(max_cv, min_runs, min_eval_images))
    answers = within_budget(rows, max_drop) if max_drop is not None else []
    click.echo(render.terminal(rows, failures, answers))
    for path, text in ((markdown_path, lambda: render.markdown(rows, failures, answers)),
                       (csv_path, lambda: render.csv_text(rows)),
                       (json_path, lambda: render.json_text(rows, failures, answers))):
        if path:
            write_text(path, text())
            click.echo(f"wrote {path}")
    if (html_path or plots_dir) and rows:
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

            write_text(html_path, render_html(rows, failures, answers, plots))
            click.echo(f"wrote {html_path}")
