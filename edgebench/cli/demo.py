from __future__ import annotations

from pathlib import Path

import click

from edgebench.cli.options import POSITIVE_INT, THREADS
from edgebench.demo import DemoSpec

_DEMO = DemoSpec()


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False), default=str(_DEMO.out), show_default=True)
@click.option("--epochs", type=POSITIVE_INT, default=_DEMO.epochs, show_default=True)
@click.option("--threads", type=THREADS, default=_DEMO.threads, show_default=True, help="agent threads")
def command(out: str, epochs: int, threads: int) -> None:
    """Train, export, run and report end to end on the embedded digits (no data to fetch)."""
    from edgebench.demo import run_demo
    from edgebench.fileio import check_replaceable

    check_replaceable(Path(out), overwrite=True, owned=_is_demo)  # an earlier demo is updated, other files never
    run_demo(DemoSpec(epochs=epochs, threads=threads, out=Path(out)), log=click.echo)


def _is_demo(folder: Path) -> bool:
    return any((folder / name).exists() for name in ("report.md", "checkpoints", "bundles", "results"))
