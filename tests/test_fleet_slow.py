"""The fleet's slower cases: PostgreSQL (a throwaway cluster), the page in real Chromium, an agent lost mid-job,
a server restarted mid-run, a cancelled run, and `edgebench bench --device fleet:NAME` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fleet.bundle import tiny_bundle
from tests.fleet.harness import BENCH_FAST, FAST, ROOT, Server, job_state, start_agent, stop_agent, submit_bundle, \
    wait_for
from tests.fleet.postgres import fresh_database, postgres_cluster

pytestmark = pytest.mark.slow
OVER = ("succeeded", "failed", "errored", "expired", "cancelled")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


@pytest.fixture(scope="module")
def postgres():
    yield from postgres_cluster()


@contextmanager
def _server_and_agent(tmp_path: Path, device: str):
    """A real server in tmp_path/data and one agent named `device`, both stopped however the test ends."""
    server = Server(tmp_path / "data", tmp_path / "cwd").start()
    agent = start_agent(server, tmp_path / "a", device)
    try:
        yield server, agent
    finally:
        stop_agent(agent)
        server.stop()


def _finished(client, job_id: int, timeout: float = 120) -> dict:
    return wait_for(lambda: (lambda job: job if job["state"] in OVER else None)(job_state(client, job_id)),
                    timeout, f"job {job_id} to finish", every=0.25)


def test_postgres_agents_run_every_job_exactly_once(postgres, bundle, tmp_path):
    server = Server(tmp_path / "data", tmp_path / "cwd", db=fresh_database(postgres, "agents")).start()
    agents = [start_agent(server, tmp_path / f"a{i}", f"pg-{i}", labels="pool") for i in range(3)]
    try:
        with server.client(server.admin) as admin:
            ids = [submit_bundle(admin, bundle, labels=["pool"], args=FAST + ["--backend", "null"])["id"]
                   for _ in range(9)]
            jobs = [_finished(admin, job_id) for job_id in ids]
        assert [(job["state"], job["attempts"]) for job in jobs] == [("succeeded", 1)] * 9
        assert len({job["ran_on"] for job in jobs}) >= 2  # the pool shared the work
    finally:
        [stop_agent(agent) for agent in agents]
        server.stop()
    assert list((tmp_path / "cwd").iterdir()) == []


def test_postgres_concurrent_claims(postgres, tmp_path):
    from tests.test_fleet import test_concurrent_claims_lease_each_job_once as claims

    server = Server(tmp_path / "data", tmp_path / "cwd", db=fresh_database(postgres, "claims")).start()
    try:
        claims(server)
    finally:
        server.stop()


def test_lost_agent_job_is_leased_again_and_late_completion_is_refused(bundle, tmp_path):
    server = Server(tmp_path / "data", tmp_path / "cwd", extra=["--lease-ttl", "3"]).start()
    try:
        with server.client(server.admin) as admin, server.client(server.token("register")) as reg:
            dead = reg.post("/api/v1/register", json={"name": "dead"}).json()["device_token"]
            job = submit_bundle(admin, bundle, labels=["any"], args=FAST)
            with server.client(dead) as gone:
                gone.post(f"/api/v1/register", json={"name": "x"})  # a device token cannot register: ignored
                assert gone.post("/api/v1/lease", json={"wait": 0}).status_code == 204  # not labelled
            admin.post("/api/v1/jobs/%d/cancel" % job["id"])
            job = submit_bundle(admin, bundle, device="dead", args=FAST)
            with server.client(dead) as gone:
                offer = gone.post("/api/v1/lease", json={"wait": 2}).json()
            # the device goes silent; its name is taken over by a live agent after revoking the dead token
            admin.post(f"/api/v1/tokens/{dead.split('_')[1]}/revoke")
            lost_at = time.monotonic()
            agent = start_agent(server, tmp_path / "live", "dead")
            try:
                wait_for(lambda: job_state(admin, job["id"])["attempts"] == 2, 20, "the second lease")
                assert time.monotonic() - lost_at < 3 + 2 + 8  # TTL + 2 s, plus the agent's own start here
                assert _finished(admin, job["id"])["state"] == "succeeded"
            finally:
                stop_agent(agent)
            with server.client(dead) as gone:
                late = gone.post(f"/api/v1/jobs/{job['id']}/complete",
                                 json={"lease_id": offer["lease_id"], "outcome": "failed", "error": "late"})
            assert late.status_code == 401  # revoked; with a live token the lease id alone gives 409 (test_fleet)
    finally:
        server.stop()


def test_server_restart_mid_run_loses_nothing(bundle, tmp_path):
    server = Server(tmp_path / "data", tmp_path / "cwd").start()
    admin_token = server.admin
    agent = start_agent(server, tmp_path / "a", "restart-pi")
    try:
        with server.client(admin_token) as admin:
            ids = [submit_bundle(admin, bundle, device="restart-pi", args=FAST)["id"] for _ in range(3)]
            wait_for(lambda: job_state(admin, ids[0])["state"] == "running", 30, "the first run")
        server.stop()
        time.sleep(1)
        server = Server(tmp_path / "data", tmp_path / "cwd", port=server.port).start()
        assert server.admin is None  # printed once, on the first start only
        server.admin = admin_token
        with server.client(admin_token) as admin:
            states = [_finished(admin, job_id)["state"] for job_id in ids]
        assert states == ["succeeded"] * 3
        assert "unreachable" in (tmp_path / "a" / "agent.log").read_text()
    finally:
        stop_agent(agent)
        server.stop()


def test_cancel_stops_the_run_and_the_agent_goes_on(bundle, tmp_path):
    server = Server(tmp_path / "data", tmp_path / "cwd", extra=["--lease-ttl", "3"]).start()
    agent = start_agent(server, tmp_path / "a", "cancel-pi")
    try:
        with server.client(server.admin) as admin:
            long = submit_bundle(admin, bundle, device="cancel-pi", args=["--min-seconds", "60", "--rounds", "1"])
            wait_for(lambda: job_state(admin, long["id"])["state"] == "running", 30, "the long run")
            assert admin.post(f"/api/v1/jobs/{long['id']}/cancel").json()["state"] == "cancelled"
            wait_for(lambda: "nothing reported" in (tmp_path / "a" / "agent.log").read_text(), 10, "the stop")
            short = submit_bundle(admin, bundle, device="cancel-pi", args=FAST)
            assert _finished(admin, short["id"])["state"] == "succeeded"
            assert job_state(admin, long["id"])["state"] == "cancelled"
    finally:
        stop_agent(agent)
        server.stop()


def test_max_duration_fails_the_job(bundle, tmp_path):
    with _server_and_agent(tmp_path, "slow-pi") as (server, agent):
        with server.client(server.admin) as admin:
            job = submit_bundle(admin, bundle, device="slow-pi", args=["--min-seconds", "60", "--rounds", "1"],
                                max_duration=4)
            done = _finished(admin, job["id"])
        assert (done["state"], "maximum duration of 4 s" in done["reason"]) == ("failed", True)


def test_bench_command_line_end_to_end(bundle, tmp_path):
    with _server_and_agent(tmp_path, "cli-pi") as (server, agent):
        env = {**os.environ, "EDGEBENCH_SERVER": server.url, "EDGEBENCH_TOKEN": server.token("submit"),
               "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "edgebench", "bench", str(bundle), "--device", "fleet:cli-pi", "--results",
                   str(tmp_path / "results"), *BENCH_FAST]
        first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
        assert "already on the server" in second.stdout
        assert len(list((tmp_path / "results" / "cli-pi").glob("*.json"))) == 2
        report = subprocess.run([sys.executable, "-m", "edgebench", "report", str(tmp_path / "results")],
                                capture_output=True, text=True, env=env, timeout=120)
        assert report.returncode == 0 and "cli-pi" in report.stdout
        listed = subprocess.run([sys.executable, "-m", "edgebench", "fleet", "jobs", "--json"], capture_output=True,
                                text=True, env=env, timeout=60)
        assert [job["state"] for job in json.loads(listed.stdout)] == ["succeeded", "succeeded"]
        wrong = subprocess.run([sys.executable, "-m", "edgebench", "fleet", "devices"], capture_output=True,
                               text=True, env={**env, "EDGEBENCH_TOKEN": "ebs_000000000000_" + "x" * 43}, timeout=60)
        assert wrong.returncode == 1 and wrong.stderr.startswith("error: the fleet server refused") \
            and "Traceback" not in wrong.stderr


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def test_pages_in_chromium(bundle, tmp_path):
    from selenium.webdriver.common.by import By

    server = Server(tmp_path / "data", tmp_path / "cwd").start()
    hostile = "<script>window.pwned=1</script>"
    agent = start_agent(server, tmp_path / "a", hostile)
    browser = _browser()
    try:
        with server.client(server.admin) as admin:
            job = submit_bundle(admin, bundle, device=hostile, args=FAST)
            assert _finished(admin, job["id"])["state"] == "succeeded"
        browser.get(server.url + "/")
        assert browser.current_url.endswith("/login")
        browser.find_element(By.ID, "token").send_keys(server.token("submit"))
        browser.find_element(By.ID, "login").click()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#devices td"), 10,
                 f"the devices table ({browser.current_url}: {browser.page_source[:300]})")
        cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#devices td")]
        assert cells[0] == hostile and cells[1] == "online"  # the name shown as text, never run
        assert browser.execute_script("return window.pwned === undefined")
        browser.get(f"{server.url}/jobs")
        assert browser.find_element(By.CSS_SELECTOR, "#jobs td:nth-child(2)").text == "succeeded"
        browser.get(f"{server.url}/jobs/{job['id']}")
        browser.switch_to.frame(browser.find_element(By.ID, "report"))
        rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")
        assert len(rows) == 2 and hostile in rows[0].text
        browser.switch_to.default_content()
        browser.get(f"{server.url}/logout")
        browser.get(f"{server.url}/jobs")
        assert browser.current_url.endswith("/login")
    finally:
        browser.quit()
        stop_agent(agent)
        server.stop()


def test_stopped_agent_gives_its_job_back(bundle, tmp_path):
    with _server_and_agent(tmp_path, "stopped-pi") as (server, agent):
        with server.client(server.admin) as admin:
            job = submit_bundle(admin, bundle, device="stopped-pi", args=["--min-seconds", "60", "--rounds", "1"])
            wait_for(lambda: job_state(admin, job["id"])["state"] == "running", 30, "the run")
            assert stop_agent(agent) == 130  # SIGTERM, as systemd stops it: the run stops, the job goes back
            back = job_state(admin, job["id"])
        assert (back["state"], back["reason"]) == ("queued", "back in the queue after attempt 1: the device gave it "
                                                             "back: the agent was stopped")
        assert not list((tmp_path / "a" / "cache" / "work").iterdir())  # nothing half-way left on the device
