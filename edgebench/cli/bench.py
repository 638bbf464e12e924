from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("bench")
@click.argument("bundle", type=click.Path(file_okay=False))
@click.option("--device", "target", default="local", show_default=True,
              help="local, ssh://user@host[:port], or a name from the devices file")
@click.option("--devices", "devices_file", type=click.Path(dir_okay=False), help="devices file (default: "
              "./devices.yaml, then ~/.config/edgebench/devices.yaml)")
@click.option("--results", type=click.Path(file_okay=False), default="results", show_default=True,
              help="local folder for result JSONs (one sub-folder per device)")
@click.option("--threads", type=int, help="agent threads (default: the device's, else 1)")
@click.option("--artifacts", help="comma-separated artifact names (default: all)")
@click.option("--warmup-runs", type=int)
@click.option("--min-runs", type=int)
@click.option("--min-seconds", type=float)
@click.option("--max-seconds", type=float)
@click.option("--samples", is_flag=True, help="keep every latency sample")
@click.option("--rounds", type=int, help="interleaved rounds; each configuration runs 1/R of the timing budget per "
              "round (the agent's default: 10)")
@click.option("--no-interleave", is_flag=True, help="one configuration at a time, its process closed before the "
              "next (devices short of memory)")
def command(bundle, target, devices_file, results, threads, artifacts, warmup_runs, min_runs, min_seconds, max_seconds,
            samples, rounds, no_interleave) -> None:
    """Run BUNDLE on a device over ssh (or here) and bring the result back."""
    from device_agent.protocol import TimingSettings
    from edgebench.devices.bench import run_bench
    from edgebench.devices.spec import resolve_device
    from edgebench.errors import EdgebenchError
    from edgebench.fileio import host_errors

    defaults = TimingSettings()
    with host_errors():  # the agent's own checks, here before anything is copied to the device
        TimingSettings(warmup_runs=defaults.warmup_runs if warmup_runs is None else warmup_runs,
                       warmup_seconds=defaults.warmup_seconds,
                       min_runs=defaults.min_runs if min_runs is None else min_runs,
                       min_seconds=defaults.min_seconds if min_seconds is None else min_seconds,
                       max_seconds=defaults.max_seconds if max_seconds is None else max_seconds).check()
    if rounds is not None and rounds < 1:
        raise EdgebenchError(f"--rounds {rounds} is out of range: give 1 or more")
    if threads is not None and threads < 0:
        raise EdgebenchError(f"--threads {threads} is out of range: give 0 (the runtime's default) or more")
    names = [name.strip() for name in artifacts.split(",") if name.strip()] if artifacts is not None else None
    if names is not None and not names:
        raise EdgebenchError(f"--artifacts '{artifacts}' names no artifact: give comma-separated artifact names")
    device = resolve_device(target, devices_file)
    agent_args = []
    for flag, value in (("--threads", threads), ("--artifacts", artifacts), ("--warmup-runs", warmup_runs),
                        ("--min-runs", min_runs), ("--min-seconds", min_seconds), ("--max-seconds", max_seconds),
                        ("--rounds", rounds)):
        if value is not None:
            agent_args += [flag, str(value)]
    if samples:
        agent_args.append("--samples")
    if no_interleave:
        agent_args.append("--no-interleave")
    run_bench(Path(bundle), device, Path(results), agent_args, log=click.echo, artifacts=names)


@click.command("devices")
@click.option("--devices", "devices_file", type=click.Path(dir_okay=False), help="devices file")
@click.option("--json", "as_json", is_flag=True)
def devices_command(devices_file, as_json) -> None:
    """List the devices file's devices and check each: reachable, Python, runtimes."""
    from edgebench.devices.bench import INSTALL, PROBE, parse_probe, probe_local
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
            row["runtimes"] = [m for m in ("onnxruntime", "ai_edge_litert", "tflite_runtime", "tensorflow")
                               if probe["modules"][m]]
            if not probe["modules"]["numpy"] or not row["runtimes"]:
                row["status"] = f"missing packages: {INSTALL['numpy']} onnxruntime ai-edge-litert"
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
