from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False), default="demo-out", show_default=True)
@click.option("--epochs", type=int, default=12, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True, help="agent threads")
def command(out: str, epochs: int, threads: int) -> None:
    """Train, export, run and report end to end on the embedded digits (no data to fetch)."""
    from edgebench.demo import DemoSpec, run_demo

    run_demo(DemoSpec(epochs=epochs, threads=threads, out=Path(out)), log=click.echo)
