from __future__ import annotations

import click

from edgebench.api import demo
from edgebench.cli.options import POSITIVE_INT, out_option, threads_option
from edgebench.demo import DemoSpec

_DEMO = DemoSpec()


@click.command("demo")
@out_option("demo folder (an earlier demo's is updated)", default=str(_DEMO.out))
@click.option("--epochs", type=POSITIVE_INT, default=_DEMO.epochs, show_default=True)
@threads_option("agent threads", default=_DEMO.threads)
def command(out: str, epochs: int, threads: int) -> None:
    """Train, export, run and report end to end on the embedded digits (no data to fetch)."""
    demo(out=out, epochs=epochs, threads=threads, progress=click.echo)
