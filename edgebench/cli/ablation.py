from __future__ import annotations

from pathlib import Path

import click

from edgebench.ablation.spec import ARCHES
from edgebench.cli.options import data_option, executor_option, max_drop_option
from edgebench.cli.train import recipe_options
from edgebench.train.recipe import AUTO_DEVICE


@click.command("ablation")
@click.option("--arch", type=click.Choice(ARCHES), required=True, help="base architecture")
@data_option()
@click.option("--variants", help="indices and ranges or names, e.g. 1,4,6-14 [default: all of --arch]")
@recipe_options(device_default=AUTO_DEVICE)
@click.option("--baseline", help="variant the drops are measured against [default: variant 1 if chosen, "
              "else the first chosen]")
@max_drop_option("name the smallest and the cheapest variant within this many pp")
@click.option("--export", "export", is_flag=True, help="also export each variant to fp32 + int8 ONNX (bundles in "
              "OUT/bundles, ready for `edgebench bench`) and tabulate the int8 file's size and accuracy")
@click.option("--out", type=click.Path(file_okay=False), help="results folder [default: ablation/ARCH]; with "
              "--executor ray on several nodes, a folder every node mounts")
@executor_option("where the variants train: local (here, one after another), process:N (N at once here), ray (a "
                 "local Ray cluster) or ray:ADDRESS (a running one: auto, ray://HOST:10001; a GPU per variant "
                 "with --device cuda)")
def command(arch, data, variants, epochs, batch_size, lr, schedule, limit, device, seed, baseline, max_drop, export,
            out, executor) -> None:
    """Train each variant of ARCH with the study's recipe and write the ablation table (Markdown, CSV, JSON)
    with plots of accuracy against parameters and FLOPs. Run it again to continue an interrupted sweep."""
    from edgebench.ablation import AblationSpec, run_ablation, select_variants
    from edgebench.fileio import Terminated
    from edgebench.train import TrainSpec
    from edgebench.train.recipe import resolve_device

    chosen = select_variants(arch, variants)
    if baseline is not None and baseline.isdigit():
        baseline = select_variants(arch, baseline)[0]
    if not (executor.startswith("ray") and device.startswith("cuda")):  # on Ray the GPU is the nodes'
        device = resolve_device(device, allow_auto=True)
    spec = AblationSpec(arch=arch, variants=chosen, data=data, baseline=baseline, max_drop=max_drop, export=export,
                        train=TrainSpec.for_schedule(schedule, epochs=epochs, batch_size=batch_size, lr=lr,
                                                     seed=seed, device=device, train_limit=limit))
    folder = Path(out or f"ablation/{arch}")
    if device == "cpu" and epochs is None:
        click.echo(f"note: {spec.train.epochs} epochs per variant on the CPU takes days for the large variants; "
                   "--epochs and --limit make a smoke run", err=True)
    click.echo(f"ablation of {arch}: {len(chosen)} variants on {device}, {spec.train.epochs} epochs each -> {folder}")
    try:
        run_ablation(spec, folder, log=click.echo, executor=executor)
    except (KeyboardInterrupt, Terminated) as exc:
        click.echo(f"{'terminated' if isinstance(exc, Terminated) else 'interrupted'}: finished variants are kept "
                   f"in {folder}; the same command continues the sweep", err=True)
        raise SystemExit(exc.exit_code if isinstance(exc, Terminated) else 130) from None
    click.echo("")
    click.echo((folder / "ablation.md").read_text().rstrip())
    click.echo(f"\nwritten: {folder}/ablation.md, .csv, .json, .png")
