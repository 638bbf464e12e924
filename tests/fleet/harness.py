"""A real fleet for tests: `edgebench serve` on 127.0.0.1 in its own process, real agent processes
(`python -m device_agent work`, in the device venv when there is one), and a tiny real bundle."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import httpx

ROOT = Path(__file__).resolve().parents[2]
AGENT_PYTHON = ROOT / ".venv-agent" / "bin" / "python"
FAST = ["--warmup-runs", "1", "--warmup-seconds", "0", "--min-runs", "3", "--min-seconds", "0", "--rounds", "1",
        "--no-accuracy"]
BENCH_FAST = ["--warmup-runs", "1", "--min-runs", "3", "--min-seconds", "0", "--rounds", "1"]  # `edgebench bench`'s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`edgebench serve` in a child process; its working folder is `cwd` (empty: the server writes nowhere else)."""

    def __init__(self, data_dir: Path, cwd: Path, db: Optional[str] = None, port: Optional[int] = None,
                 extra: List[str] = ()):
        self.data_dir, self.cwd, self.db = data_dir, cwd, db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = list(extra)
        self.admin: Optional[str] = None
        self.process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 60.0) -> "Server":
        self.cwd.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "edgebench", "serve", "--data-dir", str(self.data_dir), "--port",
                   str(self.port), *(["--db", self.db] if self.db else []), *self.extra]
        self.log = open(self.data_dir.parent / f"server-{self.port}.log", "a")
        self.process = subprocess.Popen(command, cwd=self.cwd, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                        env={**os.environ, "PYTHONPATH": str(ROOT)})
        first = self.process.stdout.readline()
        if first.startswith("admin token: "):
            self.admin = first.split(": ", 1)[1].strip()
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}): {self.tail()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {timeout} s: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return (self.data_dir.parent / f"server-{self.port}.log").read_text()[-2000:]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()

    def client(self, token: Optional[str]) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def token(self, role: str) -> str:
        with self.client(self.admin) as client:
            answer = client.post("/api/v1/tokens", json={"role": role})
            assert answer.status_code == 201, answer.text
            return answer.json()["token"]


def agent_python() -> str:
    return str(AGENT_PYTHON) if AGENT_PYTHON.exists() else sys.executable


def start_agent(server: Server, folder: Path, name: str, token: Optional[str] = None, labels: str = "",
                once: bool = False, extra: List[str] = ()) -> subprocess.Popen:
    """A real agent process; its token file (a registration token unless it holds one already) lives in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    token_file = folder / "token"
    if not token_file.exists():
        token_file.write_text((token or server.token("register")) + "\n")
    command = [agent_python(), "-m", "device_agent", "work", "--server", server.url, "--token-file", str(token_file),
               "--name", name, "--cache", str(folder / "cache"), "--poll-wait", "5", "--retry-max", "1",
               *(["--labels", labels] if labels else []), *(["--once"] if once else []), *extra]
    log = open(folder / "agent.log", "a")
    # the device's environment: no PYTHONPATH, nothing of the host's packages
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log, env=env, start_new_session=True)


def stop_agent(process: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def wait_for(check, timeout: float, what: str, every: float = 0.1):
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def upload(client: httpx.Client, data: bytes) -> str:
    import hashlib

    sha256 = hashlib.sha256(data).hexdigest()
    answer = client.put(f"/api/v1/blobs/{sha256}", content=data)
    assert answer.status_code in (200, 201), answer.text
    return sha256


def submit_bundle(client: httpx.Client, bundle: Path, device: Optional[str] = None, labels: List[str] = (),
                  args: List[str] = FAST, **extra) -> dict:
    from edgebench.devices.fleet import pack_bundle

    data, _ = pack_bundle(bundle)
    sha256 = upload(client, data)
    body = {"bundle_sha256": sha256, "bundle_name": bundle.name, "args": list(args), "labels": list(labels), **extra}
    if device is not None:
        body["device"] = device
    answer = client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def job_state(client: httpx.Client, job_id: int) -> dict:
    return client.get(f"/api/v1/jobs/{job_id}").json()
