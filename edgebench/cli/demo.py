from __future__ import annotations

from pathlib import Path

import click

from edgebench.cli.options import POSITIVE_INT, out_option, threads_option
from edgebench.demo import DemoSpec

_DEMO = DemoSpec()


@click.command("demo")
@out_option("demo folder (an earlier demo's is updated)", default=str(_DEMO.out))
@click.option("--epochs", type=POSITIVE_INT, default=_DEMO.epochs, show_default=True)
@threads_option("agent threads", default=_DEMO.threads)
def command(out: str, epochs: int, threads: int) -> None:
    """Train, export, run and report end to end on the embedded digits (no data to fetch)."""
    from edgebench.demo import run_demo
    from edgebench.fileio import check_replaceable

    check_replaceable(Path(out), overwrite=True, owned=_is_demo)  # an earlier demo is updated, other files never
    run_demo(DemoSpec(epochs=epochs, threads=threads, out=Path(out)), log=click.echo)


def _is_demo(folder: Path) -> bool:
    return any((folder / name).exists() for name in ("report.md", "checkpoints", "bundles", "results"))
