from __future__ import annotations

import json

import click

from edgebench.api.bench import AGENT_FLAGS, AGENT_OPTIONS
from edgebench.api import bench
from edgebench.api import devices  # function-level like the bench command's above; both move together


def _agent_options(command):
    for name, flag, kind, text in reversed(AGENT_OPTIONS):
        command = click.option(flag, name, type=kind, help=text)(command)
    for name, flag, text in reversed(AGENT_FLAGS):
        command = click.option(flag, name, is_flag=True, help=text)(command)
    return command


@click.command("bench")
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--device", "target", default="local", show_default=True,
              help="local, ssh://user@host[:port], fleet:NAME, fleet:labels=A,B, or a name from the devices file")
@click.option("--devices", "devices_file", type=click.Path(dir_okay=False), help="devices file (default: "
              "./devices.yaml, then ~/.config/edgebench/devices.yaml)")
@click.option("--results", type=click.Path(file_okay=False), default="results", show_default=True,
              help="local folder for result JSONs (one sub-folder per device)")
@click.option("--server", help="fleet server URL for a fleet device (default: $EDGEBENCH_SERVER, else the devices "
              "file's server:)")
@click.option("--token", help="fleet submit token (default: $EDGEBENCH_TOKEN, else the devices file's token_file:)")
@_agent_options
def command(bundle, target, devices_file, results, server, token, **values) -> None:
    """Run BUNDLE on a device over ssh (or here) and bring the result back. The measurement options are the
    agent's (`device-agent run --help`), checked here before anything is copied."""

    bench(bundle, target, devices=devices_file, results=results, progress=click.echo, server=server, token=token,
          **values)


@click.command("devices")
@click.option("--devices", "devices_file", type=click.Path(dir_okay=False), help="devices file")
@click.option("--json", "as_json", is_flag=True)
def devices_command(devices_file, as_json) -> None:
    """List the devices file's devices and check each: reachable, Python, runtimes."""

    checks = devices(devices_file)
    if as_json:
        click.echo(json.dumps([check.to_dict() for check in checks], indent=2))
        return
    for check in checks:
        click.echo(check.line())
    if len(checks) == 1:
        click.echo("(no devices file: write devices.yaml with name: {host, user, port, python, threads})")
