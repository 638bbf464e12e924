from __future__ import annotations

import click


@click.command("report")
@click.argument("results", nargs=-1, required=True)
@click.option("--baseline", help="artifact to compare against (default: the fp32 ONNX of the same model)")
@click.option("--max-drop", type=float, help="name the fastest and smallest artifact within this many pp of the "
              "baseline's accuracy, per device")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), help="also write a Markdown table")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="also write CSV")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="also write JSON")
def command(results, baseline, max_drop, markdown_path, csv_path, json_path) -> None:
    """Compare device results (files, folders or globs) across models, formats, precisions and devices."""
    from edgebench.errors import EdgebenchError
    from edgebench.fileio import write_text
    from edgebench.report import build_rows, load_results, within_budget
    from edgebench.report import render

    if max_drop is not None and max_drop < 0:
        raise EdgebenchError(f"--max-drop {max_drop} is out of range: give a drop in pp of 0 or more")
    rows, failures = build_rows(load_results(results), baseline)
    answers = within_budget(rows, max_drop) if max_drop is not None else []
    click.echo(render.terminal(rows, failures, answers))
    for path, text in ((markdown_path, lambda: render.markdown(rows, failures, answers)),
                       (csv_path, lambda: render.csv_text(rows)),
                       (json_path, lambda: render.json_text(rows, failures, answers))):
        if path:
            write_text(path, text())
            click.echo(f"wrote {path}")
