"""The `edgebench` command line: models, train, export, report."""

from __future__ import annotations

import sys

import click

from edgebench import __version__
from edgebench.errors import EdgebenchError


class Commands(click.Group):
    """Shows user errors as one line and a non-zero exit, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EdgebenchError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted: nothing half-written was kept", err=True)
            ctx.exit(130)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgebench")
def cli() -> None:
    """Compress CNN image classifiers, export them to quantized ONNX, and compare them on devices."""


def _register() -> None:
    from edgebench.cli import ablation, bench, demo, export, models, prune, report, train

    for module in (models, train, ablation, export, bench, report, demo, prune):
        cli.add_command(module.command)
    cli.add_command(prune.study_command)
    cli.add_command(bench.devices_command)


_register()


def main() -> None:
    cli(prog_name="edgebench")


if __name__ == "__main__":
    sys.exit(main())
