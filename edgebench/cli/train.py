from __future__ import annotations

from pathlib import Path

import click


@click.command("train")
@click.argument("model")
@click.option("--data", help="dataset path (MNIST IDX folder, CIFAR batches, ImageFolder, .npz); default: the "
              "embedded digits")
@click.option("--epochs", type=int, help="epochs (default: the recipe's 150)")
@click.option("--batch-size", type=int, help="batch size (default 128)")
@click.option("--lr", type=float, help="peak learning rate (default 0.0125 onecycle, 0.01 plateau)")
@click.option("--weight-decay", type=float, help="weight decay (default 2e-5 onecycle, 5e-4 plateau)")
@click.option("--schedule", type=click.Choice(["onecycle", "plateau"]), default="onecycle", show_default=True)
@click.option("--augment", default="crop,flip", show_default=True, help="crop, flip, both or none")
@click.option("--input-size", type=int, help="square input size (default: the model's, 32)")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True)
@click.option("--limit", type=int, help="train on at most this many images (smoke runs)")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="checkpoint path (default: checkpoints/MODEL.pt)")
def command(model, data, epochs, batch_size, lr, weight_decay, schedule, augment, input_size, channels, limit, device,
            seed, out) -> None:
    """Train MODEL with the study's recipe and write a checkpoint that records its provenance."""
    from edgebench.errors import EdgebenchError
    from edgebench.models import model_entry
    from edgebench.train import TrainSpec, train_model

    model_entry(model)
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise EdgebenchError(f"device '{device}' is not available here: use --device cpu")
    elif device != "cpu":
        raise EdgebenchError(f"unknown device '{device}': choose cpu or cuda")
    augmentations = tuple(a for a in augment.split(",") if a and a != "none")
    spec = TrainSpec.for_schedule(schedule, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                  augment=augmentations, seed=seed, device=device, train_limit=limit)
    train_model(model, data, spec, Path(out or f"checkpoints/{model}.pt"), input_size=input_size,
                in_channels=int(channels), log=click.echo)
