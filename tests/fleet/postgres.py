"""A throwaway PostgreSQL cluster from Debian's binaries (nothing installed here): initdb in a temporary folder,
started on a free loopback port, stopped at the end. Skips with the reason when the binaries are absent."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, List

import pytest

from tests.fleet.harness import free_port


def _bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run installs it)")
    return Path(found[-1]).parent


def _as_owner(command: List[str]) -> List[str]:
    """PostgreSQL refuses to run as root: run it as the `postgres` user then."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user for PostgreSQL to run as")
    return ["runuser", "-u", "postgres", "--", *command]


def postgres_cluster() -> Iterator[str]:
    """Yields postgresql://eb@127.0.0.1:PORT/postgres for a fresh cluster in a temporary folder (directly under
    the system's temporary folder: the `postgres` user cannot reach into pytest's root-only one)."""
    binaries = _bin()
    folder = Path(tempfile.mkdtemp(prefix="edgebench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        os.chmod(folder, 0o700)
    port = free_port()
    data = folder / "data"
    made = subprocess.run(_as_owner([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "eb"]),
                          capture_output=True, text=True)
    if made.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {made.stderr.strip()[-300:]}")
    options = f"-k {folder} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "pg.log"),
                              "-w", "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql://eb@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """A new, empty database in the cluster at `url` (each server in a test gets its own)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql://", "postgresql://", 1), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name
