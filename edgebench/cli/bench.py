from __future__ import annotations

import json
from pathlib import Path

import click


# Options passed to the agent as they are, after the agent's own checks here (before anything is copied):
# (click option name, the agent's flag, type, help); flags without a value are listed in AGENT_FLAGS.
AGENT_OPTIONS = (
    ("threads", "--threads", str, "agent threads, one value or a list to sweep, e.g. 1,2,4 (default: the device's, else 1)"),
    ("artifacts", "--artifacts", str, "comma-separated artifact names (default: all)"),
    ("warmup_runs", "--warmup-runs", int, None),
    ("min_runs", "--min-runs", int, None),
    ("min_seconds", "--min-seconds", float, None),
    ("max_seconds", "--max-seconds", float, None),
    ("rounds", "--rounds", int, "interleaved rounds; each configuration runs 1/R of the timing budget per round "
                           "(the agent's default: 10)"),
    ("target_ci", "--target-ci", float, "add rounds until each p50's 95 % interval half-width is within this many % "
                                 "(within --max-seconds)"),
    ("xnnpack", "--xnnpack", str, "TFLite: on, off, or on,off to sweep"),
    ("ort_graph_optimization", "--ort-graph-optimization", str, "ONNX Runtime: disable, basic, extended, all (a list "
                                                           "sweeps)"),
    ("ort_execution_mode", "--ort-execution-mode", str, "ONNX Runtime: sequential, parallel (a list sweeps)"),
    ("sustained", "--sustained", float, "after the rounds, run each configuration this many seconds, recording latency, "
                                 "temperature, frequency and throttling once a second"),
    ("cooldown", "--cooldown", str, "rest: seconds (45) or until the CPU is at or below a temperature (45C)"),
    ("profile_runs", "--profile-runs", int, "runs per profile (with --profile)"),
)
AGENT_FLAGS = (("samples", "--samples", "keep every latency sample"),
               ("no_interleave", "--no-interleave", "one configuration at a time, its process closed before the "
                                                    "next (devices short of memory)"),
               ("profile", "--profile", "per-layer profile of each ONNX configuration (ONNX Runtime's profiler)"))


def _agent_options(command):
    for name, flag, kind, text in reversed(AGENT_OPTIONS):
        command = click.option(flag, name, type=kind, help=text)(command)
    for name, flag, text in reversed(AGENT_FLAGS):
        command = click.option(flag, name, is_flag=True, help=text)(command)
    return command


def agent_arguments(values: dict) -> list:
    """The agent's command line for these option values, checked by the agent's own parser and rules: an
    EdgebenchError names the first bad value before anything is copied to the device."""
    from device_agent.cli import build_parser, options_from_args
    from edgebench.fileio import host_errors

    arguments = []
    for name, flag, _, _ in AGENT_OPTIONS:
        if values.get(name) is not None:
            arguments += [flag, str(values[name])]
    arguments += [flag for name, flag, _ in AGENT_FLAGS if values.get(name)]
    with host_errors():  # the agent's UsageError, as the host's one-line error
        options_from_args(build_parser().parse_args(["run", "BUNDLE", *arguments]))
    return arguments


@click.command("bench")
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--device", "target", default="local", show_default=True,
              help="local, ssh://user@host[:port], or a name from the devices file")
@click.option("--devices", "devices_file", type=click.Path(dir_okay=False), help="devices file (default: "
              "./devices.yaml, then ~/.config/edgebench/devices.yaml)")
@click.option("--results", type=click.Path(file_okay=False), default="results", show_default=True,
              help="local folder for result JSONs (one sub-folder per device)")
@_agent_options
def command(bundle, target, devices_file, results, **values) -> None:
    """Run BUNDLE on a device over ssh (or here) and bring the result back. The measurement options are the
    agent's (`device-agent run --help`), checked here before anything is copied."""
    from edgebench.devices.measure import MeasureSettings, measure, open_device
    from edgebench.errors import EdgebenchError

    artifacts = values.get("artifacts")
    names = [name.strip() for name in artifacts.split(",") if name.strip()] if artifacts is not None else None
    if names is not None and not names:
        raise EdgebenchError(f"--artifacts '{artifacts}' names no artifact: give comma-separated artifact names")
    agent_args = agent_arguments(values)
    device = open_device(target, devices_file)
    measure(Path(bundle), device, MeasureSettings(agent_args=tuple(agent_args), results=Path(results),
                                                  artifacts=tuple(names) if names is not None else None),
            log=click.echo)


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
