"""The device fleet under load and faults, on loopback only: a real `edgebench serve`, real agent processes
(`python -m device_agent work`, each job a real `device-agent run` of a tiny bundle with the null backend).

1. Throughput: AGENTS agents x JOBS short jobs on SQLite and on PostgreSQL (a throwaway cluster when Debian's
   binaries are there): every job succeeds exactly once, "database is locked" never appears; jobs per second,
   the server's memory and the database's growth per 1,000 jobs; one long-lived agent's RSS after 10 jobs and
   after LONG_JOBS.
2. An agent killed with SIGKILL mid-job (lease TTL 6 s): seconds until the job is leased again, that it
   succeeds, and the dead agent's late completion (its own token, its old lease id) answered 409.
3. The server stopped and restarted mid-run: jobs lost, agents that reconnected.
4. Pick-up latency of an idle agent: submit -> leased, p50 and p95 over REPEATS jobs.
5. The same bundle submitted twice is uploaded once; no token appears in plain text in the database.

    python bench/fleet.py [--agents 8] [--jobs 400] [--long-jobs 400] [--repeats 20] [--skip-postgres]
        [--skip-sqlite] [--throughput-only]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, table  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.fleet.bundle import tiny_bundle  # noqa: E402
from tests.fleet.harness import FAST, Server, job_state, start_agent, stop_agent, submit_bundle, wait_for  # noqa: E402

NULL = FAST + ["--backend", "null"]
OVER = ("succeeded", "failed", "errored", "expired", "cancelled")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS")) / 1024


def finished(admin, ids, timeout: float) -> list:
    def check():
        jobs = admin.get("/api/v1/jobs", params={"limit": 10_000}).json()
        mine = [job for job in jobs if job["id"] in ids]
        return mine if all(job["state"] in OVER for job in mine) else None
    return wait_for(check, timeout, f"{len(ids)} jobs to finish", every=0.5)


def done_count(folder: Path) -> int:
    log = folder / "agent.log"
    return log.read_text().count(": succeeded") if log.exists() else 0


def throughput(base: Path, bundle: Path, db, agents: int, jobs: int) -> dict:
    server = Server(base / "data", base / "cwd", db=db).start()
    folders = [base / f"agent{i}" for i in range(agents)]
    processes = [start_agent(server, folder, f"load-{i}", labels="pool") for i, folder in enumerate(folders)]
    try:
        with server.client(server.admin) as admin:
            wait_for(lambda: len(admin.get("/api/v1/devices").json()) == agents, 60, "registrations")
            server_start, size_start = rss_mb(server.process.pid), database_bytes(server, db)
            started = time.perf_counter()
            ids = {submit_bundle(admin, bundle, labels=["pool"], args=NULL)["id"] for _ in range(jobs)}
            rss_after_10 = None
            give_up = time.monotonic() + 3600
            while True:
                if rss_after_10 is None and done_count(folders[0]) >= 10:
                    rss_after_10 = rss_mb(processes[0].pid)
                states = [job["state"] for job in admin.get("/api/v1/jobs", params={"limit": 10_000}).json()
                          if job["id"] in ids]
                if all(state in OVER for state in states) or time.monotonic() > give_up:
                    break
                time.sleep(0.5)
            seconds = time.perf_counter() - started
            rows = finished(admin, ids, 60)
            server_end = rss_mb(server.process.pid)
            agent_end, agent_jobs = rss_mb(processes[0].pid), done_count(folders[0])
        log = (server.data_dir.parent / f"server-{server.port}.log").read_text()
        size = database_bytes(server, db) - size_start
    finally:
        [stop_agent(process) for process in processes]
        server.stop()
    others = [f"job {job['id']}: {job['state']} after {job['attempts']} lease(s): {job['reason']}" for job in rows
              if not (job["state"] == "succeeded" and job["attempts"] == 1)]
    for line in others:
        print(line, file=sys.stderr)
    return {"ok": sum(1 for job in rows if job["state"] == "succeeded" and job["attempts"] == 1), "jobs": jobs,
            "retried_ok": sum(1 for job in rows if job["state"] == "succeeded" and job["attempts"] > 1),
            "per_s": jobs / seconds, "seconds": seconds, "locked": log.count("database is locked"),
            "server_mb": (server_start, server_end), "db_kb_per_1000": size / 1024 / jobs * 1000,
            "agent_mb": (rss_after_10, agent_end, agent_jobs)}


def database_bytes(server: Server, db) -> int:
    if db is None:  # the database itself, its write-ahead log checkpointed first
        with sqlite3.connect(server.data_dir / "fleet.sqlite3") as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return (server.data_dir / "fleet.sqlite3").stat().st_size
    import psycopg

    with psycopg.connect(db) as connection:
        return connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def descendants(pid: int) -> list:
    import psutil

    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def killed_agent(base: Path, bundle: Path) -> dict:
    server = Server(base / "data", base / "cwd", extra=["--lease-ttl", "6"]).start()
    victim = start_agent(server, base / "victim", "victim", labels="pool")
    rescuer = None
    try:
        with server.client(server.admin) as admin:
            job = submit_bundle(admin, bundle, labels=["pool"], args=FAST + ["--min-seconds", "4", "--rounds", "1"])
            wait_for(lambda: job_state(admin, job["id"])["state"] == "running", 60, "the run")
            with sqlite3.connect(server.data_dir / "fleet.sqlite3") as connection:
                lease_id = connection.execute("SELECT lease_id FROM jobs WHERE id=?", (job["id"],)).fetchone()[0]
            rescuer = start_agent(server, base / "rescuer", "rescuer", labels="pool")
            wait_for(lambda: (base / "rescuer" / "token").read_text().startswith("ebd_"), 60, "the second agent")
            for pid in [victim.pid] + descendants(victim.pid):  # the device loses power: the agent and its run
                os.kill(pid, signal.SIGKILL)
            killed = time.perf_counter()
            wait_for(lambda: job_state(admin, job["id"])["attempts"] == 2, 60, "the second lease", every=0.05)
            again = time.perf_counter() - killed
            final = wait_for(lambda: (lambda j: j if j["state"] in OVER else None)(job_state(admin, job["id"])),
                             120, "the job", every=0.25)
        with server.client((base / "victim" / "token").read_text().strip()) as dead:
            late = dead.post(f"/api/v1/jobs/{job['id']}/complete",
                             json={"lease_id": lease_id, "outcome": "failed", "error": "late"}).status_code
    finally:
        [stop_agent(agent) for agent in (victim, rescuer) if agent is not None]
        server.stop()
    return {"leased_again_s": again, "state": final["state"], "late": late}


def restarted_server(base: Path, bundle: Path, agents: int, jobs: int) -> dict:
    server = Server(base / "data", base / "cwd").start()
    admin_token = server.admin
    folders = [base / f"agent{i}" for i in range(agents)]
    processes = [start_agent(server, folder, f"restart-{i}", labels="pool") for i, folder in enumerate(folders)]
    try:
        with server.client(admin_token) as admin:
            ids = {submit_bundle(admin, bundle, labels=["pool"], args=NULL)["id"] for _ in range(jobs)}
            wait_for(lambda: sum(done_count(f) for f in folders) >= jobs // 4, 600, "a quarter of the jobs")
        server.stop()
        time.sleep(2)
        server = Server(base / "data", base / "cwd", port=server.port).start()
        with server.client(admin_token) as admin:
            rows = finished(admin, ids, 1800)
        reconnected = sum(1 for f in folders if "unreachable" in (f / "agent.log").read_text())
    finally:
        [stop_agent(process) for process in processes]
        server.stop()
    return {"succeeded": sum(1 for job in rows if job["state"] == "succeeded"), "jobs": jobs,
            "reconnected": reconnected, "agents": agents}


def pickup(base: Path, bundle: Path, repeats: int) -> dict:
    server = Server(base / "data", base / "cwd").start()
    agent = start_agent(server, base / "idle", "idle")
    delays = []
    try:
        with server.client(server.admin) as admin:
            for _ in range(repeats):
                wait_for(lambda: not [j for j in admin.get("/api/v1/jobs").json() if j["state"] not in OVER], 120,
                         "an idle agent")
                time.sleep(1.0)  # the agent is in its long poll
                submitted = time.perf_counter()
                job = submit_bundle(admin, bundle, device="idle", args=NULL)
                wait_for(lambda: job_state(admin, job["id"])["state"] != "queued", 30, "the lease", every=0.01)
                delays.append(time.perf_counter() - submitted)
    finally:
        stop_agent(agent)
        server.stop()
    delays.sort()
    return {"p50": statistics.median(delays), "p95": delays[max(0, int(round(0.95 * len(delays))) - 1)],
            "n": len(delays)}


def once_and_hashed(base: Path, bundle: Path) -> dict:
    from edgebench.devices.fleet import FleetClient, pack_bundle

    server = Server(base / "data", base / "cwd").start()
    agent = start_agent(server, base / "a", "hash")
    try:
        submit = server.token("submit")
        client = FleetClient(server.url, submit)
        data, sha = pack_bundle(bundle)
        sent = [client.upload(data, sha), client.upload(*pack_bundle(bundle))]
        client.close()
        wait_for(lambda: (base / "a" / "token").read_text().startswith("ebd_"), 30, "registration")
        tokens = [server.admin, submit, server.token("register"), (base / "a" / "token").read_text().strip()]
    finally:
        stop_agent(agent)
        server.stop()
    stored = b"".join(p.read_bytes() for p in (base / "data").rglob("*") if p.is_file())
    found = sum(1 for token in tokens if token.encode() in stored or token.split("_")[2].encode() in stored)
    digests = sum(1 for token in tokens if hashlib.sha256(token.encode()).hexdigest().encode() in stored)
    return {"uploads": sent.count(True), "plain": found, "tokens": len(tokens), "digests": digests}


def throughput_rows(label: str, found: dict, agents: int, jobs: int) -> list:
    retried = f", {found['retried_ok']} at a later one" if found["retried_ok"] else ""
    a10, a_end, count = found["agent_mb"]
    return [[f"throughput, {label}", f"{agents} agents x {jobs} jobs",
             f"{found['ok']}/{found['jobs']} succeeded at the first lease{retried}, {found['locked']} 'database is "
             f"locked'; {found['per_s']:.2f} jobs/s ({found['seconds']:.0f} s)"],
            [f"memory, {label}", "server RSS start -> end; database growth per 1,000 jobs",
             f"{found['server_mb'][0]:.0f} -> {found['server_mb'][1]:.0f} MB; {found['db_kb_per_1000']:.0f} KiB"],
            [f"agent RSS, {label}", f"after 10 jobs -> after {count}",
             f"{a10 or float('nan'):.1f} -> {a_end:.1f} MB ({(a_end / a10 - 1) * 100 if a10 else 0:+.1f} %)"]]


def load_rows(args, base: Path, bundle: Path) -> list:
    """Throughput on each database, then one long-lived agent."""
    rows, databases, pg = [], [] if args.skip_sqlite else [("SQLite", None)], None
    if not args.skip_postgres:
        from tests.fleet.postgres import fresh_database, postgres_cluster

        pg = postgres_cluster()
        databases.append(("PostgreSQL", fresh_database(next(pg), "bench")))
    for label, db in databases:
        rows += throughput_rows(label, throughput(base / label, bundle, db, args.agents, args.jobs), args.agents,
                                args.jobs)
    if pg is not None:
        pg.close()
    if args.long_jobs:
        alone = throughput(base / "long", bundle, None, 1, args.long_jobs)
        a10, a_end, count = alone["agent_mb"]
        rows.append(["long-lived agent, SQLite", f"1 agent x {args.long_jobs} jobs; RSS after 10 -> after {count}",
                     f"{alone['ok']}/{alone['jobs']} succeeded once; {a10:.1f} -> {a_end:.1f} MB "
                     f"({(a_end / a10 - 1) * 100:+.1f} %)"])
    return rows


def fault_rows(args, base: Path, bundle: Path) -> list:
    """A killed agent, a restarted server, an idle agent's pick-up, uploads and stored tokens."""
    killed = killed_agent(base / "kill", bundle)
    restart = restarted_server(base / "restart", bundle, min(4, args.agents), max(8, args.jobs // 10))
    idle = pickup(base / "pickup", bundle, args.repeats)
    hashed = once_and_hashed(base / "hashed", bundle)
    return [["agent SIGKILLed mid-job", "lease TTL 6 s",
             f"leased again after {killed['leased_again_s']:.1f} s, then {killed['state']}; late completion "
             f"-> {killed['late']}"],
            ["server restarted mid-run", f"{restart['agents']} agents x {restart['jobs']} jobs",
             f"{restart['succeeded']}/{restart['jobs']} succeeded, {restart['reconnected']}/{restart['agents']} "
             "agents reconnected"],
            ["idle agent picks up a job", f"{idle['n']} jobs",
             f"p50 {idle['p50'] * 1000:.0f} ms, p95 {idle['p95'] * 1000:.0f} ms"],
            ["same bundle submitted twice", "uploads; tokens in the data folder",
             f"{hashed['uploads']} upload; {hashed['plain']} of {hashed['tokens']} tokens in plain text, "
             f"{hashed['digests']} as sha256"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--long-jobs", type=int, default=400, help="jobs for one long-lived agent (0: skip)")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--throughput-only", action="store_true", help="only the throughput runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        base = Path(tmp)
        bundle = tiny_bundle(base / "bundle" / "tiny")
        rows = load_rows(args, base, bundle)
        if not args.throughput_only:
            rows += fault_rows(args, base, bundle)
    print(table(["case", "setting", "measured"], rows))


if __name__ == "__main__":
    main()
