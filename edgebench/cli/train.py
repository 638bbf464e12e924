from __future__ import annotations

import click

from edgebench.cli.options import (INPUT_SIZE, NON_NEGATIVE_FLOAT, POSITIVE_FLOAT, POSITIVE_INT, data_option,
                                   out_option, quiet_option, reporter, seed_option)
from edgebench.train.recipe import AUGMENTATIONS, AUTO_DEVICE, DEVICES, SCHEDULES, Schedule, TrainSpec
from edgebench.api import train

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
        seed_option(_STUDY.seed),
    ]

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


@click.command("train")
@click.argument("model")
@data_option()
@recipe_options(device_default="cpu")
@click.option("--weight-decay", type=NON_NEGATIVE_FLOAT, help=f"weight decay [default: {_STUDY.weight_decay} "
              f"onecycle, {_PLATEAU.weight_decay} plateau]")
@click.option("--augment", default=",".join(_STUDY.augment), show_default=True,
              help=f"any of {', '.join(AUGMENTATIONS)} (comma-separated), or none")
@click.option("--input-size", type=INPUT_SIZE, help="square input size (default: the model's, 32)")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True)
@out_option("checkpoint path (default: checkpoints/MODEL.pt)", file=True)
@quiet_option()
def command(model, data, epochs, batch_size, lr, schedule, limit, device, seed, weight_decay, augment, input_size,
            channels, out, quiet) -> None:
    """Train MODEL with the study's recipe and write a checkpoint that records its provenance."""

    train(model, data, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule, limit=limit, device=device,
          seed=seed, weight_decay=weight_decay, augment=augment, input_size=input_size, channels=int(channels),
          out=out, progress=reporter(quiet))
