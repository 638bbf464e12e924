from __future__ import annotations

from pathlib import Path

import click

from edgebench.cli.options import INPUT_SIZE, NON_NEGATIVE_FLOAT, POSITIVE_FLOAT, POSITIVE_INT, SEED
from edgebench.train.recipe import AUGMENTATIONS, AUTO_DEVICE, DEVICES, SCHEDULES, Schedule, TrainSpec

_STUDY = TrainSpec()
_PLATEAU = TrainSpec.for_schedule(Schedule.PLATEAU.value)


def recipe_options(*, device_default: str):
    """The training recipe's options, shared by every command that trains (`train`, `ablation`); choices and
    defaults come from `TrainSpec`."""
    devices = ((AUTO_DEVICE,) if device_default == AUTO_DEVICE else ()) + DEVICES
    options = [
        click.option("--epochs", type=POSITIVE_INT, help=f"epochs [default: the recipe's {_STUDY.epochs}]"),
        click.option("--batch-size", type=POSITIVE_INT, help=f"batch size [default: {_STUDY.batch_size}]"),
        click.option("--lr", type=POSITIVE_FLOAT, help=f"peak learning rate [default: {_STUDY.lr} onecycle, "
                     f"{_PLATEAU.lr} plateau]"),
        click.option("--schedule", type=click.Choice(SCHEDULES), default=_STUDY.schedule, show_default=True),
        click.option("--limit", type=POSITIVE_INT, help="train on at most this many images (smoke runs)"),
        click.option("--device", default=device_default, show_default=True,
                     help=", ".join(devices[:-1]) + f" or {devices[-1]}"
                     + (" (CUDA when present)" if AUTO_DEVICE in devices else "")),
        click.option("--seed", type=SEED, default=_STUDY.seed, show_default=True),
    ]

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


@click.command("train")
@click.argument("model")
@click.option("--data", help="dataset path (MNIST IDX folder, CIFAR batches, ImageFolder, .npz); default: the "
              "embedded digits")
@recipe_options(device_default="cpu")
@click.option("--weight-decay", type=NON_NEGATIVE_FLOAT, help=f"weight decay [default: {_STUDY.weight_decay} "
              f"onecycle, {_PLATEAU.weight_decay} plateau]")
@click.option("--augment", default=",".join(_STUDY.augment), show_default=True,
              help=f"any of {', '.join(AUGMENTATIONS)} (comma-separated), or none")
@click.option("--input-size", type=INPUT_SIZE, help="square input size (default: the model's, 32)")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="checkpoint path (default: checkpoints/MODEL.pt)")
def command(model, data, epochs, batch_size, lr, schedule, limit, device, seed, weight_decay, augment, input_size,
            channels, out) -> None:
    """Train MODEL with the study's recipe and write a checkpoint that records its provenance."""
    from edgebench.models import model_entry
    from edgebench.train import train_model
    from edgebench.train.recipe import resolve_device

    model_entry(model)
    device = resolve_device(device)
    augmentations = tuple(a.strip() for a in augment.split(",") if a.strip() and a.strip() != "none")
    spec = TrainSpec.for_schedule(schedule, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                  augment=augmentations, seed=seed, device=device, train_limit=limit)
    train_model(model, data, spec, Path(out or f"checkpoints/{model}.pt"), input_size=input_size,
                in_channels=int(channels), log=click.echo)
