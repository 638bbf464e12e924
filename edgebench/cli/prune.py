from __future__ import annotations

from pathlib import Path

import click


@click.command("prune")
@click.argument("model")
@click.option("--checkpoint", required=True, type=click.Path(), help="trained checkpoint of MODEL")
@click.option("--data", help="data set for fine-tuning and evaluation (default: the checkpoint's)")
@click.option("--method", default="l1-unstructured", show_default=True,
              help="l1-unstructured (the study's) or channel (structured, torch-pruning)")
@click.option("--amount", type=float, default=0.2, show_default=True,
              help="l1-unstructured: share of the remaining weights removed per iteration")
@click.option("--iterations", type=int, help="number of iterations (default: 10, or what reaches --sparsity)")
@click.option("--sparsity", type=float, help="final sparsity (l1-unstructured) or channel ratio (channel), in [0, 1)")
@click.option("--finetune-epochs", type=int, default=1, show_default=True, help="fine-tuning epochs per iteration")
@click.option("--lr", type=float, default=1e-4, show_default=True)
@click.option("--limit", type=int, help="fine-tune on at most this many training images")
@click.option("--out", type=click.Path(file_okay=False), help="folder for the checkpoints (default: pruned/MODEL)")
def command(model, checkpoint, data, method, amount, iterations, sparsity, finetune_epochs, lr, limit, out) -> None:
    """Prune a trained MODEL step by step with fine-tuning; one checkpoint per iteration."""
    from edgebench.errors import EdgebenchError
    from edgebench.prune import PruneSpec
    from edgebench.prune.pipeline import prune_checkpoint
    from edgebench.train import load_checkpoint

    spec = PruneSpec(method=method, amount=amount, iterations=iterations, target=sparsity,
                     finetune_epochs=finetune_epochs, lr=lr, train_limit=limit)
    held = load_checkpoint(checkpoint).model_name
    if held != model:
        raise EdgebenchError(f"checkpoint {checkpoint} holds '{held}', not '{model}'")
    prune_checkpoint(checkpoint, data, spec, Path(out or f"pruned/{model}"), log=click.echo)


@click.command("prune-study")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="study folder (default: FOLDER/study)")
@click.option("--threads", type=int, default=1, show_default=True)
@click.option("--min-seconds", type=float, default=1.0, show_default=True, help="timed seconds per artifact")
def study_command(folder, out, threads, min_seconds) -> None:
    """For each iteration of a `prune` run: export fp32 + int8, run the agent here, tabulate and plot."""
    from edgebench.prune.study import markdown, run_study

    target = Path(out or Path(folder) / "study")
    rows = run_study(Path(folder), target, threads=threads, min_seconds=min_seconds, log=click.echo)
    click.echo("\n" + markdown(rows))
    click.echo(f"wrote {target}/pruning-study.md, .csv, .json and .png")
