from __future__ import annotations

from pathlib import Path

import click

from edgebench.ablation.spec import ARCHES
from edgebench.api import ablation
from edgebench.cli.options import data_option, executor_option, max_drop_option, quiet_option, reporter
from edgebench.cli.train import recipe_options
from edgebench.fileio import Terminated
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
@quiet_option()
def command(arch, data, variants, epochs, batch_size, lr, schedule, limit, device, seed, baseline, max_drop, export,
            out, executor, quiet) -> None:
    """Train each variant of ARCH with the study's recipe and write the ablation table (Markdown, CSV, JSON)
    with plots of accuracy against parameters and FLOPs. Run it again to continue an interrupted sweep."""
    try:
        table = ablation(arch, data, variants=variants, epochs=epochs, batch_size=batch_size, lr=lr,
                         schedule=schedule, limit=limit, device=device, seed=seed, baseline=baseline,
                         max_drop=max_drop, export=export, out=out, executor=executor, progress=reporter(quiet))
    except (KeyboardInterrupt, Terminated) as exc:
        click.echo(f"{'terminated' if isinstance(exc, Terminated) else 'interrupted'}: finished variants are kept "
                   f"in {Path(out or f'ablation/{arch}')}; the same command continues the sweep", err=True)
        raise SystemExit(exc.exit_code if isinstance(exc, Terminated) else 130) from None
    click.echo("")
    click.echo((table.path / "ablation.md").read_text().rstrip())
    click.echo(f"\nwritten: {table.path}/ablation.md, .csv, .json, .png")
