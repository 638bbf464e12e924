from __future__ import annotations

import click

from edgebench.api import prune, prune_study

from edgebench.cli.options import (NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT, data_option, executor_option,
                                   float_range, force_option, max_drop_option, out_option, quiet_option, reporter,
                                   seed_option, threads_option)
from edgebench.prune.spec import IMPORTANCE_NAMES, METHODS, STUDY_ITERATIONS, PruneSpec

_STUDY = PruneSpec()


@click.command("prune")
@click.argument("model")
@click.option("--checkpoint", required=True, type=click.Path(), help="trained checkpoint of MODEL")
@data_option("data set for fine-tuning and evaluation (default: the checkpoint's)")
@click.option("--method", type=click.Choice(METHODS), default=_STUDY.method, show_default=True,
              help="how to remove: unstructured (single weights; the study's) or channel (whole channels, "
                   "torch-pruning)")
@click.option("--importance", type=click.Choice(IMPORTANCE_NAMES), default=_STUDY.importance, show_default=True,
              help="what to remove first: l1 or l2 weight magnitude, or taylor (|weight x gradient|), with either "
                   "method")
@click.option("--amount", type=float_range(0.0, 1.0, low_open=True, high_open=True), default=_STUDY.amount,
              show_default=True,
              help="unstructured: share of the remaining weights removed per iteration, in (0, 1)")
@click.option("--iterations", type=POSITIVE_INT,
              help=f"number of iterations (default: {STUDY_ITERATIONS}, or what reaches --sparsity)")
@click.option("--sparsity", type=float_range(0.0, 1.0, high_open=True),
              help="final sparsity (unstructured) or channel ratio (channel), in [0, 1)")
@click.option("--finetune-epochs", type=NON_NEGATIVE_INT, default=_STUDY.finetune_epochs, show_default=True,
              help="fine-tuning epochs per iteration")
@click.option("--lr", type=POSITIVE_FLOAT, default=_STUDY.lr, show_default=True)
@click.option("--limit", type=POSITIVE_INT, help="fine-tune on at most this many training images")
@seed_option(_STUDY.seed)
@out_option("folder for the checkpoints (default: pruned/MODEL)")
@force_option("replace the output of an earlier `edgebench prune` in --out")
@quiet_option()
def command(model, checkpoint, data, method, importance, amount, iterations, sparsity, finetune_epochs, lr, limit,
            seed, out, force, quiet) -> None:
    """Prune a trained MODEL step by step with fine-tuning; one checkpoint per iteration. The run is written
    to a hidden folder and moved to --out when it completes: an interrupted run leaves nothing."""
    prune(model, checkpoint, data, method=method, importance=importance, amount=amount, iterations=iterations,
          sparsity=sparsity, finetune_epochs=finetune_epochs, lr=lr, limit=limit, seed=seed, out=out, force=force,
          progress=reporter(quiet))


@click.command("prune-study")
@click.argument("folder", type=click.Path(file_okay=False))
@out_option("study folder (default: FOLDER/study)")
@threads_option("agent threads", default=1)
@click.option("--min-seconds", type=POSITIVE_FLOAT, default=1.0, show_default=True, help="timed seconds per artifact")
@max_drop_option("also name the smallest and the fastest artifact within this many accuracy points of the "
                 "unpruned fp32 model")
@executor_option("where the exports run: local, process:N or ray[:ADDRESS]; the measurements here stay one "
                 "at a time")
@quiet_option()
def study_command(folder, out, threads, min_seconds, max_drop, executor, quiet) -> None:
    """For each iteration of a `prune` run: export fp32 + int8, run the agent here, tabulate and plot."""
    study = prune_study(folder, out=out, threads=threads, min_seconds=min_seconds, max_drop=max_drop,
                        executor=executor, progress=reporter(quiet))
    click.echo("\n" + study.to_markdown())
    click.echo(f"wrote {study.path}/pruning-study.md, .csv, .json and .png")
