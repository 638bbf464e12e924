from __future__ import annotations

import click

from edgebench.api.report import DEFAULT_MAX_CV, DEFAULT_MIN_EVAL_IMAGES, MAX_CV
from edgebench.cli.options import POSITIVE_INT, RuleType, max_drop_option
from edgebench.report.flags import FlagThresholds
from edgebench.api import report


@click.command("report")
@click.argument("results", nargs=-1, required=True)
@click.option("--baseline", help="reference artifact, ARTIFACT or MODEL/ARTIFACT (default: the fp32 ONNX of the most "
              "accurate model on each evaluation set)")
@max_drop_option("name the fastest and smallest artifact within this many pp of the reference's accuracy, per "
                 "device and evaluation set")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), help="also write a Markdown table")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="also write CSV")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="also write JSON")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="also write a self-contained HTML report")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), help="also write the plots as PNG here")
@click.option("--max-cv", type=RuleType(MAX_CV, "float"), default=DEFAULT_MAX_CV, show_default=True,
              help="flag latency CV above this")
@click.option("--min-runs", type=POSITIVE_INT, default=FlagThresholds().min_runs, show_default=True,
              help="flag fewer timed runs than this")
@click.option("--min-eval-images", type=POSITIVE_INT, default=DEFAULT_MIN_EVAL_IMAGES, show_default=True,
              help="flag accuracies measured on fewer images than this")
def command(results, baseline, max_drop, markdown_path, csv_path, json_path, html_path, plots_dir, max_cv, min_runs,
            min_eval_images) -> None:
    """Compare device results (files, folders or globs) across models, formats, precisions and devices.

    Accuracy drops are measured against one reference per evaluation set; results on different evaluation
    sets, and emulated devices against real ones, are never compared."""

    report(list(results), baseline=baseline, max_drop=max_drop, max_cv=max_cv, min_runs=min_runs,
           min_eval_images=min_eval_images, markdown=markdown_path, csv=csv_path, json=json_path, html=html_path,
           plots=plots_dir, progress=click.echo,
           on_duplicate=lambda path, first: click.echo(f"note: {path} was given twice: read once" if path == first
                                                       else f"note: skipped {path}: the same bytes as {first}",
                                                       err=True))
