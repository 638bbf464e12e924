from __future__ import annotations

from pathlib import Path

import click

from edgebench.cli.options import NON_NEGATIVE_FLOAT, NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT, THREADS, float_range
from edgebench.prune.spec import METHODS, STUDY_ITERATIONS, PruneSpec

_STUDY = PruneSpec()


@click.command("prune")
@click.argument("model")
@click.option("--checkpoint", required=True, type=click.Path(), help="trained checkpoint of MODEL")
@click.option("--data", help="data set for fine-tuning and evaluation (default: the checkpoint's)")
@click.option("--method", type=click.Choice(METHODS), default=_STUDY.method, show_default=True,
              help="l1-unstructured (the study's) or channel (structured, torch-pruning)")
@click.option("--amount", type=float_range(0.0, 1.0, low_open=True, high_open=True), default=_STUDY.amount,
              show_default=True,
              help="l1-unstructured: share of the remaining weights removed per iteration, in (0, 1)")
@click.option("--iterations", type=POSITIVE_INT,
              help=f"number of iterations (default: {STUDY_ITERATIONS}, or what reaches --sparsity)")
@click.option("--sparsity", type=float_range(0.0, 1.0, high_open=True),
              help="final sparsity (l1-unstructured) or channel ratio (channel), in [0, 1)")
@click.option("--finetune-epochs", type=NON_NEGATIVE_INT, default=_STUDY.finetune_epochs, show_default=True,
              help="fine-tuning epochs per iteration")
@click.option("--lr", type=POSITIVE_FLOAT, default=_STUDY.lr, show_default=True)
@click.option("--limit", type=POSITIVE_INT, help="fine-tune on at most this many training images")
@click.option("--out", type=click.Path(file_okay=False), help="folder for the checkpoints (default: pruned/MODEL)")
@click.option("--force", is_flag=True, help="replace the output of an earlier `edgebench prune` in --out")
def command(model, checkpoint, data, method, amount, iterations, sparsity, finetune_epochs, lr, limit, out,
            force) -> None:
    """Prune a trained MODEL step by step with fine-tuning; one checkpoint per iteration. The run is written
    to a hidden folder and moved to --out when it completes: an interrupted run leaves nothing."""
    from edgebench.errors import EdgebenchError
    from edgebench.fileio import check_replaceable
    from edgebench.prune.pipeline import is_prune_output, prune_checkpoint
    from edgebench.train import load_checkpoint

    spec = PruneSpec(method=method, amount=amount, iterations=iterations, target=sparsity,
                     finetune_epochs=finetune_epochs, lr=lr, train_limit=limit)
    target = Path(out or f"pruned/{model}")
    check_replaceable(target, overwrite=force, owned=is_prune_output)  # before any work
    held = load_checkpoint(checkpoint).model_name
    if held != model:
        raise EdgebenchError(f"checkpoint {checkpoint} holds '{held}', not '{model}'")
    prune_checkpoint(checkpoint, data, spec, target, log=click.echo, overwrite=force)


@click.command("prune-study")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="study folder (default: FOLDER/study)")
@click.option("--threads", type=THREADS, default=1, show_default=True)
@click.option("--min-seconds", type=POSITIVE_FLOAT, default=1.0, show_default=True, help="timed seconds per artifact")
@click.option("--max-drop", type=NON_NEGATIVE_FLOAT, help="also name the smallest and the fastest artifact within this "
              "many accuracy points of the unpruned fp32 model")
def study_command(folder, out, threads, min_seconds, max_drop) -> None:
    """For each iteration of a `prune` run: export fp32 + int8, run the agent here, tabulate and plot."""
    from edgebench.fileio import check_replaceable
    from edgebench.prune.pipeline import read_summary
    from edgebench.prune.study import markdown, run_study, study_answer

    read_summary(Path(folder))  # a missing or foreign summary is refused before anything is written
    target = Path(out or Path(folder) / "study")
    check_replaceable(target, overwrite=True, owned=_is_study)  # an earlier study is updated, other files never
    rows = run_study(Path(folder), target, threads=threads, min_seconds=min_seconds, max_drop=max_drop,
                     log=click.echo)
    click.echo("\n" + markdown(rows, study_answer(rows, max_drop) if max_drop is not None else None))
    click.echo(f"wrote {target}/pruning-study.md, .csv, .json and .png")


def _is_study(folder: Path) -> bool:
    from edgebench.fileio import is_edgebench_output

    return is_edgebench_output(folder) or any((folder / name).is_dir() for name in ("bundles", "results"))
