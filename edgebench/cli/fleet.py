"""`edgebench serve` (the fleet server) and `edgebench fleet ...` (tokens, devices, jobs)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from edgebench.devices.fleet import FleetClient

_server = click.option("--server", envvar="EDGEBENCH_SERVER", help="fleet server URL (default: $EDGEBENCH_SERVER)")
_token = click.option("--token", envvar="EDGEBENCH_TOKEN", help="token (default: $EDGEBENCH_TOKEN)")


@click.command("serve")
@click.option("--db", help="postgresql://USER@HOST:PORT/NAME (default: SQLite in --data-dir)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (0.0.0.0: the whole LAN)")
@click.option("--port", type=click.IntRange(1, 65535), default=8700, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default="fleet-data", show_default=True,
              help="database (SQLite), bundles and results; the server writes nowhere else")
@click.option("--lease-ttl", type=click.FloatRange(2, 3600), default=30.0, show_default=True,
              help="seconds a lease lives without a heartbeat before its job goes back to the queue")
@click.option("--max-attempts", type=click.IntRange(1, 20), default=3, show_default=True,
              help="leases a job may lose (devices lost mid-job) before it is errored")
@click.option("--cooldown", type=click.FloatRange(0, 3600), default=0.0, show_default=True,
              help="seconds a device rests between jobs (a temperature: give the job --cooldown 45C)")
@click.option("--max-duration", type=click.FloatRange(1, 7 * 86400), default=3600.0, show_default=True,
              help="default seconds a job may run before it fails (both sides enforce it)")
@click.option("--max-upload-mb", type=click.IntRange(1, 1 << 20), default=512, show_default=True,
              help="largest blob (bundle or result) accepted")
def serve_command(db, host, port, data_dir, lease_ttl, max_attempts, cooldown, max_duration, max_upload_mb) -> None:
    """The device fleet's server: devices pull benchmark jobs, the host submits them, a page shows both."""
    from edgebench.fleet.jobs import FleetSettings  # SQLAlchemy: the server extra, only for `serve`
    from edgebench.fleet.serve import serve  # FastAPI and uvicorn: the server extra

    settings = FleetSettings(lease_ttl=lease_ttl, max_attempts=max_attempts, cooldown=cooldown,
                             max_duration=max_duration, max_blob_bytes=max_upload_mb << 20,
                             online_window=max(60.0, 2 * lease_ttl))
    serve(data_dir=Path(data_dir), db=db, host=host, port=port, settings=settings, log=click.echo)


@click.group("fleet")
def fleet_group() -> None:
    """Tokens, devices and jobs of an `edgebench serve` fleet."""


def _client(server, token):

    return FleetClient(server, token)


@fleet_group.group("token")
def token_group() -> None:
    """Create and revoke tokens (needs the admin token)."""


@token_group.command("create")
@click.option("--role", type=click.Choice(["submit", "register"]), required=True,
              help="submit: upload bundles and run jobs; register: a device registers once with it")
@click.option("--expires", help="lifetime, e.g. 12h, 7d (default: never)")
@_server
@_token
def token_create(role, expires, server, token) -> None:
    from edgebench.fleet.auth import parse_duration  # SQLAlchemy: the server extra

    body = {"role": role, "expires_in": parse_duration(expires) if expires else None}
    created = _client(server, token).json("POST", "/api/v1/tokens", json=body)
    click.echo(created["token"])
    click.echo(f"(a {role} token, id {created['id']}; shown once)", err=True)


@token_group.command("revoke")
@click.argument("token_id")
@_server
@_token
def token_revoke(token_id, server, token) -> None:
    """Revoke TOKEN_ID (the id `token create` or `fleet devices` shows, or the whole token)."""
    from edgebench.fleet.auth import token_id_of  # SQLAlchemy: the server extra

    done = _client(server, token).json("POST", f"/api/v1/tokens/{token_id_of(token_id)}/revoke")
    click.echo(f"revoked {done['role']} token {done['id']}")


def _ago(stamp) -> str:
    return "-" if stamp is None else f"{max(0.0, time.time() - stamp):.0f} s ago"


@fleet_group.command("devices")
@click.option("--json", "as_json", is_flag=True)
@_server
@_token
def devices_command(as_json, server, token) -> None:
    """The fleet's devices: state (online, busy, offline, revoked), last seen, labels, token id."""
    devices = _client(server, token).json("GET", "/api/v1/devices")
    if as_json:
        click.echo(json.dumps(devices, indent=2))
        return
    for d in devices:
        facts = d["facts"]
        click.echo(f"{d['name']:<16} {d['state']:<8} seen {_ago(d['last_seen']):<12} "
                   f"{','.join(d['labels']) or '-':<16} {facts.get('machine', '?')} {facts.get('cores', '?')} cores "
                   f"token {d['token_id']}{'  EMULATED' if facts.get('emulated') else ''}")
    if not devices:
        click.echo("(no device has registered: run `python -m device_agent work` on one)")


@fleet_group.command("jobs")
@click.option("--state", help="only jobs in this state")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_server
@_token
def jobs_command(state, limit, as_json, server, token) -> None:
    """The newest jobs: state, device, bundle, and why it ended so."""
    params = {"limit": limit, **({"state": state} if state else {})}
    rows = _client(server, token).json("GET", "/api/v1/jobs", params=params)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for job in rows:
        where = job["ran_on"] or job["device"] or "+".join(job["labels"])
        click.echo(f"{job['id']:>6} {job['state']:<10} {where:<16} {job['bundle_name']:<24} {job['reason']}")


@fleet_group.command("cancel")
@click.argument("job_id", type=int)
@_server
@_token
def cancel_command(job_id, server, token) -> None:
    done = _client(server, token).json("POST", f"/api/v1/jobs/{job_id}/cancel")
    click.echo(f"job {done['id']}: {done['state']}")
