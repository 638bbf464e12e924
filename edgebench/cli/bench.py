from __future__ import annotations

import json

import click

from edgebench.api.bench import AGENT_FLAGS, AGENT_OPTIONS


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
    from edgebench.api import bench

    bench(bundle, target, devices=devices_file, results=results, progress=click.echo, server=server, token=token,
          **values)


@click.command("devices")
@click.option("--devices", "devices_file", type=click.Path(dir_okay=False), help="devices file")
@click.option("--json", "as_json", is_flag=True)
def devices_command(devices_file, as_json) -> None:
    """List the devices file's devices and check each: reachable, Python, runtimes."""
    from edgebench.devices.bench import MISSING_PACKAGES, PROBE, parse_probe, probe_local, runtimes_found
    from edgebench.devices.remote import Remote, quote
    from edgebench.devices.spec import load_devices
    from edgebench.errors import EdgebenchError

    devices = load_devices(devices_file)
    rows = []
    for name, device in {"local": None, **devices}.items():
        row = {"name": name, "address": "this machine" if device is None else
               f"{device.destination}:{device.port}", "status": "ok", "python": None, "runtimes": []}
        try:
            if device is None:
                probe = probe_local()
            else:
                done = Remote(device, connect_timeout=5).run(f"{device.python} -c {quote(PROBE)}", check=False)
                if done.returncode != 0:
                    raise EdgebenchError(f"'{device.python}' does not run: install Python 3.9+ or set python")
                probe = parse_probe(done.stdout, name)
            row["python"] = probe["python"]
            row["runtimes"] = runtimes_found(probe)
            if not probe["modules"]["numpy"] or not row["runtimes"]:
                row["status"] = f"missing packages: {MISSING_PACKAGES}"
        except EdgebenchError as exc:
            row["status"] = str(exc)
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<12} {row['address']:<28} python {row['python'] or '-':<8} "
                   f"{','.join(row['runtimes']) or '-':<28} {row['status']}")
    if not devices:
        click.echo("(no devices file: write devices.yaml with name: {host, user, port, python, threads})")
