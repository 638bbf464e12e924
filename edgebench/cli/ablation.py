from __future__ import annotations

from pathlib import Path

import click


def resolve_device(device: str) -> str:
    from edgebench.errors import EdgebenchError

    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise EdgebenchError(f"unknown device '{device}': choose auto, cpu or cuda")
    if device == "cpu":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda" if device == "auto" else device
    if device == "auto":
        return "cpu"
    raise EdgebenchError(f"device '{device}' is not available here: use --device cpu or auto")


@click.command("ablation")
@click.option("--arch", type=click.Choice(["resnet101", "vgg19"]), required=True, help="base architecture")
@click.option("--data", help="dataset path (CIFAR batches, IDX, ImageFolder, .npz); default: the embedded digits")
@click.option("--variants", help="indices and ranges or names, e.g. 1,4,6-14 [default: all of --arch]")
@click.option("--epochs", type=click.IntRange(min=1), help="epochs per variant [default: the recipe's 150]")
@click.option("--limit", type=click.IntRange(min=1), help="train on at most this many images (CPU smoke runs)")
@click.option("--batch-size", type=click.IntRange(min=1), help="batch size [default: 128]")
@click.option("--lr", type=float, help="peak learning rate [default: 0.0125 onecycle, 0.01 plateau]")
@click.option("--schedule", type=click.Choice(["onecycle", "plateau"]), default="onecycle", show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda")
@click.option("--baseline", help="variant the drops are measured against [default: variant 1 if chosen, "
              "else the first chosen]")
@click.option("--max-drop", type=float, help="name the smallest and the cheapest variant within this many pp")
@click.option("--export", "export", is_flag=True, help="also export each variant to fp32 + int8 ONNX (bundles in "
              "OUT/bundles, ready for `edgebench bench`) and tabulate the int8 file's size and accuracy")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), help="results folder [default: ablation/ARCH]")
def command(arch, data, variants, epochs, limit, batch_size, lr, schedule, device, baseline, max_drop, export, seed,
            out) -> None:
    """Train each variant of ARCH with the study's recipe and write the ablation table (Markdown, CSV, JSON)
    with plots of accuracy against parameters and FLOPs. Run it again to continue an interrupted sweep."""
    from edgebench.ablation import AblationSpec, run_ablation, select_variants
    from edgebench.train import TrainSpec

    chosen = select_variants(arch, variants)
    if baseline is not None and baseline.isdigit():
        baseline = select_variants(arch, baseline)[0]
    device = resolve_device(device)
    spec = AblationSpec(arch=arch, variants=chosen, data=data, baseline=baseline, max_drop=max_drop, export=export,
                        train=TrainSpec.for_schedule(schedule, epochs=epochs, batch_size=batch_size, lr=lr,
                                                     seed=seed, device=device, train_limit=limit))
    folder = Path(out or f"ablation/{arch}")
    if device == "cpu" and epochs is None:
        click.echo(f"note: {spec.train.epochs} epochs per variant on the CPU takes days for the large variants; "
                   "--epochs and --limit make a smoke run", err=True)
    click.echo(f"ablation of {arch}: {len(chosen)} variants on {device}, {spec.train.epochs} epochs each -> {folder}")
    try:
        run_ablation(spec, folder, log=click.echo)
    except KeyboardInterrupt:
        click.echo(f"interrupted: finished variants are kept in {folder}; the same command continues the sweep",
                   err=True)
        raise SystemExit(130) from None
    click.echo("")
    click.echo((folder / "ablation.md").read_text().rstrip())
    click.echo(f"\nwritten: {folder}/ablation.md, .csv, .json, .png")
