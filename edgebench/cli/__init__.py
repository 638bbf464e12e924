"""The `edgebench` command line: models, train, export, report."""

from __future__ import annotations

import os
import sys

import click

from edgebench import __version__
from edgebench.errors import EdgebenchError
from edgebench.fileio import Terminated, describe_os_error, signals_raise


class Commands(click.Group):
    """Shows user errors as one line and a non-zero exit, never a traceback: 1 for a refused input or a failed
    write, 2 for a bad option, 3 for an export with refused artifacts, 130 for Ctrl-C, 143 for SIGTERM; a closed
    pipe (`| head`) ends quietly. Each command only parses, calls `edgebench.api`, and prints."""

    def invoke(self, ctx):
        try:
            with signals_raise():
                return super().invoke(ctx)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx is not None else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            ctx.exit(exc.exit_code)
        except EdgebenchError as exc:  # each kind carries its exit code (errors.py lists them)
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(141)
        except OSError as exc:
            click.echo(f"error: {describe_os_error(exc)}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted: nothing half-written was kept", err=True)
            ctx.exit(130)
        except Terminated as exc:
            click.echo("terminated: nothing half-written was kept", err=True)
            ctx.exit(exc.exit_code)


def _silence_stdout() -> None:
    """The reader went away: point stdout at /dev/null so that the exit's flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgebench")
def cli() -> None:
    """Compress CNN image classifiers, export them to quantized ONNX, and compare them on devices."""


# The commands come after `cli`: each imports this package's `options`, which must find the package initialised.
from edgebench.cli import (ablation, bench, demo, diagnose, export, fleet, models, optimize, prune,  # noqa: E402
                           report, train)

for _module in (models, train, ablation, export, diagnose, bench, report, demo, prune, optimize):
    cli.add_command(_module.command)
cli.add_command(prune.study_command)
cli.add_command(bench.devices_command)
cli.add_command(fleet.serve_command)
cli.add_command(fleet.fleet_group)


def main() -> None:
    cli(prog_name="edgebench")


if __name__ == "__main__":
    sys.exit(main())
