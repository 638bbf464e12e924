"""The fleet on a real server (127.0.0.1, SQLite) with real agent processes: tokens and roles, the lease
protocol, bad input and attacks, and `edgebench bench --device fleet:NAME` end to end."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.fleet.bundle import tiny_bundle
from tests.fleet.harness import FAST, ROOT, Server, job_state, start_agent, stop_agent, upload, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet")
    running = Server(base / "data", base / "cwd", extra=["--lease-ttl", "3"]).start()
    yield running
    running.stop()
    assert running.process.returncode == 0, running.tail()
    assert list((base / "cwd").iterdir()) == []  # the server wrote nothing outside its data folder


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


def _device(server, name: str, labels=(), facts=None) -> str:
    with server.client(server.token("register")) as client:
        answer = client.post("/api/v1/register", json={"name": name, "labels": list(labels), "facts": facts or {},
                                                       "clock": time.time() + 7200})
    assert answer.status_code == 201, answer.text
    return answer.json()["device_token"]


def test_tokens_and_roles(server):
    submit, register = server.token("submit"), server.token("register")
    assert submit.startswith("ebs_") and register.startswith("ebr_")
    cases = [(None, 401, "no token"), ("nonsense", 401, "not valid"), (submit[:-2] + "xx", 401, "not valid"),
             (register, 403, "register token cannot")]
    for token, status, text in cases:
        with server.client(token) as client:
            answer = client.get("/api/v1/devices")
        assert (answer.status_code, text in answer.json()["detail"]) == (status, True), answer.text
    with server.client(submit) as client:
        assert client.post("/api/v1/tokens", json={"role": "submit"}).status_code == 403
        assert client.get("/api/v1/devices").status_code == 200
    with server.client(server.admin) as admin:
        token_id = submit.split("_")[1]
        assert admin.post(f"/api/v1/tokens/{token_id}/revoke").status_code == 200
        short = admin.post("/api/v1/tokens", json={"role": "submit", "expires_in": 0.3}).json()["token"]
        assert admin.post("/api/v1/tokens", json={"role": "admin"}).status_code == 400
    with server.client(submit) as client:
        answer = client.get("/api/v1/devices")
        assert (answer.status_code, answer.json()["detail"]) == (401, "the token was revoked")
    time.sleep(0.4)
    with server.client(short) as client:
        assert client.get("/api/v1/jobs").json()["detail"] == "the token has expired"


def test_lease_protocol_and_stale_leases(server):
    pi, other = _device(server, "proto-pi", ["arm64"]), _device(server, "proto-other", ["x86"])
    with server.client(server.admin) as admin, server.client(pi) as device, server.client(other) as stranger:
        sha = upload(admin, b"not a real bundle, the protocol does not look inside")
        job = admin.post("/api/v1/jobs", json={"bundle_sha256": sha, "bundle_name": "b", "labels": ["arm64"]}).json()
        assert device.post("/api/v1/jobs", json={"bundle_sha256": sha, "bundle_name": "b"}).status_code == 403
        assert stranger.post("/api/v1/lease", json={"wait": 0}).status_code == 204  # labels do not match
        offer = device.post("/api/v1/lease", json={"wait": 2}).json()
        assert (offer["job_id"], offer["bundle_sha256"], offer["attempt"]) == (job["id"], sha, 1)
        assert device.get(f"/api/v1/blobs/{sha}").content.startswith(b"not a real")
        assert stranger.get(f"/api/v1/blobs/{sha}").status_code == 403  # not its job's bundle
        lease = {"lease_id": offer["lease_id"]}
        assert device.post(f"/api/v1/jobs/{job['id']}/heartbeat", json=lease).json()["state"] == "running"
        done = {**lease, "outcome": "failed", "error": "boom"}
        assert stranger.post(f"/api/v1/jobs/{job['id']}/complete", json=done).status_code == 409
        assert device.post(f"/api/v1/jobs/{job['id']}/complete",
                           json={**lease, "outcome": "succeeded"}).status_code == 400  # no result
        # the device asks for new work: the lease it still held goes back to the queue, the old id is stale
        again = device.post("/api/v1/lease", json={"wait": 1}).json()
        assert (again["job_id"], again["attempt"]) == (job["id"], 2) and again["lease_id"] != offer["lease_id"]
        assert device.post(f"/api/v1/jobs/{job['id']}/complete", json=done).status_code == 409
        ok = device.post(f"/api/v1/jobs/{job['id']}/complete", json={**done, "lease_id": again["lease_id"]})
        assert ok.json()["state"] == "failed"
        replay = device.post(f"/api/v1/jobs/{job['id']}/complete", json={**done, "lease_id": again["lease_id"]})
        assert replay.status_code == 409
        final = job_state(admin, job["id"])
        assert (final["state"], final["reason"], final["attempts"], final["ran_on"]) == ("failed", "boom", 2,
                                                                                         "proto-pi")
        assert device.post("/api/v1/jobs/99999/heartbeat", json=lease).status_code == 404
        skew = next(d for d in admin.get("/api/v1/devices").json() if d["name"] == "proto-pi")["clock_skew_s"]
        assert 7100 < skew < 7300  # recorded, never used for leases


def test_expired_and_errored_say_why(server):
    token = _device(server, "flaky")
    with server.client(server.admin) as admin, server.client(token) as device:
        sha = upload(admin, b"states")
        nobody = admin.post("/api/v1/jobs", json={"bundle_sha256": sha, "bundle_name": "e", "device": "ghost",
                                                  "deadline_in": 0.3}).json()
        once = admin.post("/api/v1/jobs", json={"bundle_sha256": sha, "bundle_name": "e", "device": "flaky",
                                                "max_attempts": 1}).json()
        assert device.post("/api/v1/lease", json={"wait": 1}).json()["job_id"] == once["id"]
        assert device.post("/api/v1/lease", json={"wait": 0}).status_code == 204  # it restarted: the lease is lost
        time.sleep(0.4)
        expired, errored = job_state(admin, nobody["id"]), job_state(admin, once["id"])
    assert (expired["state"], expired["reason"]) == ("expired", "no device named 'ghost' took it before its "
                                                                "deadline; no such device is registered")
    assert errored["state"] == "errored" and errored["reason"].startswith("the device was lost 1 time(s)")


def test_concurrent_claims_lease_each_job_once(server):
    tokens = [_device(server, f"claimer-{i}") for i in range(3)]
    with server.client(server.admin) as admin:
        sha = upload(admin, b"claims")
        ids = {admin.post("/api/v1/jobs", json={"bundle_sha256": sha, "bundle_name": "c",
                                                "device": f"claimer-{i % 3}"}).json()["id"] for i in range(15)}
        ids |= {admin.post("/api/v1/jobs", json={"bundle_sha256": sha, "bundle_name": "c", "labels": []}).status_code}
    ids.discard(400)  # a job that names neither a device nor labels is refused
    taken, errors = [], []

    def work(token):
        with server.client(token) as device:
            while True:
                answer = device.post("/api/v1/lease", json={"wait": 0})
                if answer.status_code == 204:
                    return
                if answer.status_code != 200:
                    errors.append(answer.text)
                    return
                offer = answer.json()
                taken.append(offer["job_id"])
                device.post(f"/api/v1/jobs/{offer['job_id']}/complete",
                            json={"lease_id": offer["lease_id"], "outcome": "failed", "error": "x"})

    threads = [threading.Thread(target=work, args=(token,)) for token in tokens]
    [thread.start() for thread in threads]
    [thread.join(60) for thread in threads]
    assert errors == []
    assert sorted(taken) == sorted(ids) and len(ids) == 15


def test_bad_input_and_attacks(server, tmp_path):
    hostile = "x'); DROP TABLE jobs;-- <script>alert(1)</script>"
    token = _device(server, hostile, facts={"versions": ["odd"], "cores": "<b>8</b>", "cpu_model": {"x": 1}})
    data = server.data_dir
    with server.client(server.admin) as admin, server.client(token) as device:
        post = lambda path, body: admin.post(path, content=body, headers={"content-type": "application/json"})
        bad = post("/api/v1/jobs", b"{not json")
        assert bad.status_code == 400 and "not valid JSON" in bad.json()["detail"]
        assert post("/api/v1/jobs", b"x" * (2 << 20)).status_code == 413
        sha = hashlib.sha256(b"right").hexdigest()
        mismatch = admin.put(f"/api/v1/blobs/{sha}", content=b"wrong")
        assert mismatch.status_code == 400 and "nothing was stored" in mismatch.json()["detail"]
        assert admin.head(f"/api/v1/blobs/{sha}").status_code == 404
        assert admin.put("/api/v1/blobs/ABC", content=b"x").status_code == 400
        assert admin.put("/api/v1/blobs/..%2F..%2Foutside", content=b"x").status_code in (400, 404)
        assert admin.get("/api/v1/jobs/424242").status_code == 404
        outside = admin.post("/api/v1/jobs", json={"bundle_sha256": upload(admin, b"b"), "bundle_name": "b",
                                                   "device": hostile, "args": ["--out", "/etc/passwd"]})
        assert outside.status_code == 400 and "--out" in outside.json()["detail"]
        extra = admin.post("/api/v1/jobs", json={"bundle_sha256": sha, "bundle_name": "b", "device": "d", "x": 1})
        assert extra.status_code == 400
        assert device.post("/api/v1/lease", json={"wait": "soon"}).status_code == 400
        names = [d["name"] for d in admin.get("/api/v1/devices").json()]
        assert hostile in names  # stored as given, escaped where shown
        page = admin.get("/")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
        assert "&lt;b&gt;8&lt;/b&gt; cores" in page.text and "<b>" not in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
    assert not any(p for p in data.rglob("*") if not p.resolve().is_relative_to(data.resolve()))


def test_no_token_in_plain_text_and_page_needs_one(server):
    tokens = [server.admin, server.token("submit"), server.token("register")]
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("fleet.sqlite3*"))
    assert stored and not any(token.encode() in stored or token.split("_")[2].encode() in stored for token in tokens)
    with server.client(None) as anonymous:
        assert anonymous.get("/", follow_redirects=False).headers["location"] == "/login"
        login = anonymous.post("/login", data={"token": tokens[1]}, follow_redirects=False)
        assert login.status_code == 303 and "httponly" in login.headers["set-cookie"].lower()
        assert "Devices" in anonymous.get("/").text  # the cookie the form set
        assert anonymous.post("/login", data={"token": tokens[2]}, follow_redirects=False).headers["location"] \
            == "/login?failed=1"


def test_agent_registers_runs_and_the_result_lands_where_bench_writes(server, bundle, tmp_path):
    from edgebench.devices.fleet import FleetClient, FleetTransport, pack_bundle
    from edgebench.report.load import load_results

    agent = start_agent(server, tmp_path / "pi", "bench-pi", labels="arm64,pi4")
    try:
        token_file = tmp_path / "pi" / "token"
        wait_for(lambda: token_file.read_text().startswith("ebd_"), 30, "registration")
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        submit, said = server.token("submit"), []
        transport = FleetTransport("fleet:bench-pi", server.url, submit)
        path, result, seconds = transport.measure(bundle, FAST, None, tmp_path / "results", said.append, False)
        assert path.parent == tmp_path / "results" / "bench-pi" and path.is_file()
        assert any(line.startswith("bundle tiny: uploaded") for line in said)
        assert any("succeeded on bench-pi" in line for line in said)
        assert result["device"]["name"] == "bench-pi" and len(result["runs"]) == 2 and seconds > 0
        assert all(run["latency_ms"]["p50"] > 0 for run in result["runs"])
        assert len(load_results([str(tmp_path / "results")])) == 1  # `edgebench report` reads it unchanged
        assert transport.facts()["cores"] == os.cpu_count()
        data, sha = pack_bundle(bundle)
        client = FleetClient(server.url, submit)
        assert client.upload(data, sha) is False  # the same bundle is uploaded once
        client.close()
        _bench_through_a_devices_file_entry(server, bundle, tmp_path, submit)
    finally:
        assert stop_agent(agent) == 130


def _token_file(path: Path, token: str) -> Path:
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def _bench_through_a_devices_file_entry(server, bundle, tmp_path, submit):
    """`--device pi4` with `pi4: {server:, token_file:, device: bench-pi}` goes through the fleet: `edgebench bench`
    passes --server and --token on, which win over the environment, which wins over the entry's (revoked) token."""
    from click.testing import CliRunner

    from edgebench.cli import cli
    from edgebench.devices.measure import MeasureSettings, measure, open_device

    with server.client(server.admin) as admin:
        revoked = server.token("submit")
        assert admin.post(f"/api/v1/tokens/{revoked.split('_')[1]}/revoke").status_code == 200
    stale = _token_file(tmp_path / "stale-token", revoked)
    devices = tmp_path / "devices.yaml"
    devices.write_text(f"pi4: {{server: {server.url}, token_file: {stale}, device: bench-pi}}\n")
    args = ["bench", str(bundle), "--device", "pi4", "--devices", str(devices), "--results", str(tmp_path / "r")]
    env = {"EDGEBENCH_SERVER": None, "EDGEBENCH_TOKEN": None}
    for extra, text in (([], "refused HEAD"), (["--server", "http://127.0.0.1:9", "--token", submit],
                                               "cannot reach the fleet server http://127.0.0.1:9")):
        refused = CliRunner().invoke(cli, [*args, *extra], env=env)
        assert (refused.exit_code, text in refused.output, "(401)" in refused.output) == (1, True, not extra), \
            refused.output
    bad = "ebs_000000000000_" + "x" * 43
    with pytest.MonkeyPatch.context() as env_patch:
        env_patch.setenv("EDGEBENCH_TOKEN", bad)
        device = open_device("pi4", str(devices), token=submit)  # over EDGEBENCH_TOKEN (bad) and the entry's file
        done = measure(bundle, device, MeasureSettings(agent_args=tuple(FAST), results=tmp_path / "r"),
                       log=lambda line: None)
    assert device.name == "pi4" and done.path.parent == tmp_path / "r" / "pi4"  # the entry's name, as over ssh
    assert done.result["device"]["name"] == "bench-pi" and len(done.result["runs"]) == 2


def test_devices_file_entry_is_listed_from_its_server_and_precedence(server, tmp_path, monkeypatch):
    """`edgebench devices` asks the server about an entry with server:; --server/--token win over
    EDGEBENCH_SERVER/EDGEBENCH_TOKEN, which win over the entry, for `bench` and for `fleet`."""
    from click.testing import CliRunner

    from edgebench.cli import cli
    from edgebench.devices.fleet import entry_status
    from edgebench.devices.spec import load_devices

    for name in ("EDGEBENCH_SERVER", "EDGEBENCH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    _device(server, "listed-pi", ["arm64", "listed"], facts={"versions": {"python": "3.9.2", "onnxruntime": "1.16"}})
    submit, dead = server.token("submit"), "http://127.0.0.1:9"
    good = _token_file(tmp_path / "token", submit)
    (tmp_path / "devices.yaml").write_text(
        f"pi4: {{server: {server.url}, token_file: {good}, device: listed-pi}}\n"
        f"arm: {{server: '{server.url}/', token_file: token, labels: [arm64, listed]}}\n"
        f"ghost: {{server: {server.url}, token_file: token}}\n"
        f"odd: {{server: {server.url}, token_file: token, labels: [odd-facts]}}\n")
    _device(server, "odd-pi", ["odd-facts"], facts={"versions": ["3.9"]})  # what a device reports is not trusted
    done = CliRunner().invoke(cli, ["devices", "--devices", str(tmp_path / "devices.yaml"), "--json"])
    assert done.exit_code == 0, done.output
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert [rows[n]["status"] for n in ("pi4", "arm")] == ["ok", "ok"]
    assert (rows["pi4"]["address"], rows["pi4"]["python"], rows["pi4"]["runtimes"]) == (
        f"{server.url} (listed-pi, online)", "3.9.2", ["onnxruntime"])
    assert rows["arm"]["address"] == f"{server.url} (listed-pi, online)"  # the one device with both labels
    assert rows["ghost"]["status"] == f"no device ghost has registered with {server.url}"
    assert (rows["odd"]["status"], rows["odd"]["python"], rows["odd"]["runtimes"]) == ("ok", None, [])
    spec = load_devices(str(tmp_path / "devices.yaml"))["pi4"]
    monkeypatch.setenv("EDGEBENCH_SERVER", dead)
    assert entry_status(spec)["status"].startswith(f"cannot reach the fleet server {dead}")
    assert entry_status(spec, server=server.url)["status"] == "ok"
    monkeypatch.setenv("EDGEBENCH_TOKEN", "ebs_000000000000_" + "x" * 43)
    assert "(401)" in entry_status(spec, server=server.url)["status"]
    assert entry_status(spec, server=server.url, token=submit)["status"] == "ok"
    listed = CliRunner().invoke(cli, ["fleet", "devices", "--json", "--server", server.url, "--token", submit])
    assert listed.exit_code == 0 and "listed-pi" in {d["name"] for d in json.loads(listed.stdout)}, listed.output
    assert CliRunner().invoke(cli, ["fleet", "devices"]).exit_code == 1  # the environment's dead server


def test_command_line_bad_input(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from edgebench.cli import cli

    for name in ("EDGEBENCH_SERVER", "EDGEBENCH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    nowhere = ["--server", "http://127.0.0.1:9", "--token", "ebs_000000000000_" + "x" * 43]
    cases = [(["fleet", "devices"], 1, "no fleet server"),
             (["fleet", "devices", *nowhere], 1, "cannot reach the fleet server http://127.0.0.1:9"),
             (["fleet", "token", "create", "--role", "submit", "--expires", "3x", *nowhere], 1, "not a duration"),
             (["fleet", "token", "create", "--role", "admin"], 2, "'admin' is not one of"),
             (["fleet", "token", "revoke", "nope", *nowhere], 1, "not a token or a token id"),
             (["serve", "--db", "mysql://u:secret@db/x", "--data-dir", str(tmp_path / "d")], 1,
              "--db db/x is not a database URL")]
    for args, code, text in cases:
        done = CliRunner().invoke(cli, args)
        assert (done.exit_code, text in done.output) == (code, True), (args, done.output)
        assert "Traceback" not in done.output and "secret" not in done.output
    assert not (tmp_path / "d").exists()


def test_agent_bad_input(tmp_path):
    from tests.fleet.harness import agent_python

    def work(*args):
        return subprocess.run([agent_python(), "-m", "device_agent", "work", *args], capture_output=True, text=True,
                              timeout=60, cwd=ROOT)

    garbage = tmp_path / "token"
    garbage.write_text("hello")
    cases = [(["--server", "ftp://x", "--token-file", str(garbage)], 2, "--server ftp://x is not a URL"),
             (["--server", "http://127.0.0.1:9", "--token-file", str(tmp_path / "none")], 2, "cannot be read"),
             (["--server", "http://127.0.0.1:9", "--token-file", str(garbage)], 2, "holds no registration or device")]
    for args, code, text in cases:
        done = work(*args)
        assert (done.returncode, text in done.stderr, "Traceback" in done.stderr) == (code, True, False), done.stderr
    assert garbage.read_text() == "hello"
