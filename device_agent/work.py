"""`python -m device_agent work --server URL --token-file PATH`: this device pulls benchmark jobs from an
`edgebench serve` fleet. Standard library only (urllib), Python 3.9.

The token file holds a registration token on first start; the agent registers with it and replaces it
(atomically, mode 600) with its own device token. Then, in a loop: long-poll for a lease, fetch the job's bundle
once by sha256 (cached, verified), run it through the same `run` path as `device-agent run` (its own process
group, every measurement option the job carries), heartbeat while it runs, upload the result and complete with
the lease id. A lease the server no longer holds for this device (409) stops the run and changes nothing. An
unreachable server is retried with backoff and jitter; Ctrl-C stops the run and gives the job back.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

from device_agent.device_info import device_facts
from device_agent.errors import UsageError
from device_agent.schema import RESULT_KIND

# A job never picks a path on this device nor its name (the server also refuses these).
RESERVED = ("--out", "--resume", "--device-name", "--quiet", "--help", "-h")
AGENT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class Unreachable(Exception):
    """The server did not answer (refused, timed out, 5xx): try again later."""


class Refused(Exception):
    """The server answered no (401, 403, 400 ...): retrying the same call would not help."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


def say(line: str) -> None:
    try:
        print(f"{time.strftime('%H:%M:%S')} work: {line}", file=sys.stderr, flush=True)
    except OSError:
        pass


class Api:
    def __init__(self, server: str, token: str):
        self.server, self.token = server.rstrip("/"), token

    def call(self, method: str, path: str, body: Any = None, data: Optional[bytes] = None,
             timeout: float = 30.0) -> Tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode("utf-8"), "application/json"
        request = urllib.request.Request(self.server + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw, status = response.read(), response.status
                is_json = response.headers.get("Content-Type", "").startswith("application/json")
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
            if status >= 500:
                raise Unreachable(f"the server failed ({status})") from None
            raise Refused(status, _detail(raw)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise Unreachable(str(getattr(exc, "reason", exc))) from None
        try:
            return status, (json.loads(raw.decode("utf-8")) if is_json else raw)
        except ValueError:
            raise Unreachable(f"the server's answer to {method} {path} is not JSON") from None


def _detail(raw: bytes) -> str:
    try:
        return str(json.loads(raw.decode("utf-8")).get("detail"))[:500]
    except (ValueError, AttributeError, UnicodeDecodeError):
        return raw[:200].decode("utf-8", "replace")


class Backoff:
    """Exponential delays with jitter (each between half and all of min(cap, base * 2**n)), reset on success."""

    def __init__(self, base: float = 1.0, cap: float = 30.0):
        self.base, self.cap, self.failures = base, cap, 0

    def wait(self, why: str, stop: Optional[threading.Event] = None) -> None:
        delay = min(self.cap, self.base * 2 ** self.failures) * random.uniform(0.5, 1.0)
        self.failures += 1
        say(f"server unreachable ({why}); retrying in {delay:.1f} s")
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)

    def reset(self) -> None:
        self.failures = 0


def persist(backoff: Backoff, action, *args, **kwargs):
    """`action(*args)` until the server answers (Refused passes through)."""
    while True:
        try:
            answer = action(*args, **kwargs)
            backoff.reset()
            return answer
        except Unreachable as exc:
            backoff.wait(str(exc))


def write_token(path: str, token: str) -> None:
    """Replace the token file atomically; the new file is readable by its owner only."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".token.", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError as exc:
        raise UsageError(f"--token-file {path} cannot be read: {exc.strerror or exc}") from None
    if not token.startswith(("ebr_", "ebd_")):
        raise UsageError(f"--token-file {path} holds no registration or device token (they begin ebr_ or ebd_): "
                         "write the token from `edgebench fleet token create --role register` into it")
    return token


def device_token(args, backoff: Backoff) -> str:
    """The device token: the file's, or one obtained by registering with the file's registration token."""
    token = read_token(args.token_file)
    if token.startswith("ebd_"):
        return token
    body = {"name": args.name, "labels": args.labels, "facts": device_facts(), "clock": time.time()}
    _, answer = persist(backoff, Api(args.server, token).call, "POST", "/api/v1/register", body)
    write_token(args.token_file, answer["device_token"])
    say(f"registered as '{answer['name']}' (device {answer['device_id']}); {args.token_file} now holds this "
        "device's own token")
    return answer["device_token"]


# ---- bundles ----------------------------------------------------------------------------------------------------

def _safe_members(tar: tarfile.TarFile) -> List[tarfile.TarInfo]:
    members = tar.getmembers()
    for member in members:
        parts = member.name.split("/")
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts \
                or "" in parts[:-1]:
            raise ValueError(f"the bundle holds '{member.name[:80]}', which is not a plain file inside it")
    return members


def _unpack(archive: str, folder: str) -> None:
    with tarfile.open(archive, "r:") as tar:
        for member in _safe_members(tar):
            target = os.path.join(folder, *member.name.split("/"))
            if member.isdir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            source = tar.extractfile(member)
            with open(target, "wb") as handle:
                shutil.copyfileobj(source, handle)


def fetch_bundle(api: Api, sha256: str, cache: str) -> str:
    """The bundle's folder in the cache; downloaded and verified the first time only."""
    folder = os.path.join(cache, "bundles", sha256)
    if os.path.isfile(os.path.join(folder, "manifest.json")):
        return folder
    incoming = os.path.join(cache, "incoming")
    os.makedirs(incoming, exist_ok=True)
    _, data = api.call("GET", f"/api/v1/blobs/{sha256}", timeout=300)
    if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"the bundle downloaded does not hash to {sha256}")
    archive = tempfile.mkdtemp(prefix=f"{sha256[:12]}.", dir=incoming)
    try:
        with open(os.path.join(archive, "bundle.tar"), "wb") as handle:
            handle.write(data)
        unpacked = os.path.join(archive, "bundle")
        os.makedirs(unpacked)
        _unpack(os.path.join(archive, "bundle.tar"), unpacked)
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        os.replace(unpacked, folder)
    finally:
        shutil.rmtree(archive, ignore_errors=True)
    return folder


# ---- one job ----------------------------------------------------------------------------------------------------

class Heartbeat(threading.Thread):
    """Renews the lease every third of its life; `lost` is set with the reason once the server says it is gone."""

    def __init__(self, api: Api, offer: Dict):
        super().__init__(daemon=True)
        self.api, self.offer = api, offer
        self.interval = max(0.5, min(float(offer["lease_ttl"]) / 3, 15.0))
        self.done, self.lost, self.reason = threading.Event(), threading.Event(), ""

    def beat(self) -> None:
        try:
            self.api.call("POST", f"/api/v1/jobs/{self.offer['job_id']}/heartbeat",
                          {"lease_id": self.offer["lease_id"]}, timeout=10)
        except Refused as exc:
            self.reason = exc.detail
            self.lost.set()
        except Unreachable as exc:
            say(f"heartbeat: server unreachable ({exc}); the run goes on")

    def run(self) -> None:
        self.beat()
        while not self.done.wait(self.interval) and not self.lost.is_set():
            self.beat()


def job_arguments(args: List[str]) -> List[str]:
    bad = next((a for a in args if not isinstance(a, str) or a.split("=", 1)[0] in RESERVED), None)
    if bad is not None:
        raise ValueError(f"the job carries '{str(bad)[:40]}', which a job may not set")
    return args


def _stop(process: subprocess.Popen, signum: int, grace: float = 10.0) -> None:
    """Signal the run's process group, then kill it if it has not ended within `grace` seconds."""
    try:
        os.killpg(process.pid, signum)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def measure(offer: Dict, bundle: str, workdir: str, heartbeat: Heartbeat) -> Tuple[int, str, str]:
    """Runs the bundle as `device-agent run` would; (exit code, why it was stopped or '', last stderr line)."""
    out = os.path.join(workdir, "result.json")
    command = [sys.executable, "-m", "device_agent", "run", bundle, "--out", out,
               "--device-name", offer["device_name"], *job_arguments(list(offer["args"]))]
    log_path = os.path.join(workdir, "run.log")
    with open(log_path, "w+") as log:
        process = subprocess.Popen(command, cwd=AGENT_ROOT, stdout=log, stderr=log, start_new_session=True)
        give_up, stopped = time.monotonic() + float(offer["max_duration"]), ""
        try:
            while process.poll() is None:
                if heartbeat.lost.is_set():
                    stopped = f"the lease is gone ({heartbeat.reason})"
                elif time.monotonic() > give_up:
                    stopped = f"it ran past its maximum duration of {float(offer['max_duration']):g} s"
                if stopped:
                    _stop(process, signal.SIGTERM)
                    break
                time.sleep(0.05)
        except BaseException:  # Ctrl-C or SIGTERM: the run saves what it has, then the job is given back
            _stop(process, signal.SIGINT)
            raise
        log.seek(0)
        lines = [line.strip() for line in log.read().splitlines() if line.strip()]
    return process.returncode, stopped, (lines[-1] if lines else f"exit {process.returncode}")


def _result(workdir: str) -> Optional[bytes]:
    path = os.path.join(workdir, "result.json")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        return data if json.loads(data.decode("utf-8")).get("kind") == RESULT_KIND else None
    except (OSError, ValueError, AttributeError):
        return None


def report(api: Api, offer: Dict, outcome: str, error: str, data: Optional[bytes], backoff: Backoff) -> str:
    """Uploads the result and completes the lease; returns the job's final state ('stale' on a 409)."""
    job = offer["job_id"]
    body = {"lease_id": offer["lease_id"], "outcome": outcome, "error": error[:4000], "result_sha256": None}
    try:
        if data is not None:
            body["result_sha256"] = hashlib.sha256(data).hexdigest()
            persist(backoff, api.call, "PUT", f"/api/v1/blobs/{body['result_sha256']}", data=data, timeout=300)
        try:
            _, answer = persist(backoff, api.call, "POST", f"/api/v1/jobs/{job}/complete", body)
        except Refused as exc:
            if exc.status != 400 or data is None:
                raise
            body.update(outcome="failed", result_sha256=None, error=f"the server refused the result: {exc.detail}")
            _, answer = persist(backoff, api.call, "POST", f"/api/v1/jobs/{job}/complete", body)
        return answer["state"]
    except Refused as exc:
        say(f"job {job}: the server no longer holds this lease ({exc.status}: {exc.detail}); result discarded")
        return "stale"


def run_job(api: Api, offer: Dict, cache: str, backoff: Backoff) -> str:
    job = offer["job_id"]
    say(f"job {job}: leased ({offer['bundle_name']}, attempt {offer['attempt']}, options "
        f"{' '.join(offer['args']) or 'none'})")
    heartbeat = Heartbeat(api, offer)
    heartbeat.start()
    workdir = tempfile.mkdtemp(prefix=f"job{job}.", dir=os.path.join(cache, "work"))
    try:
        try:
            bundle = fetch_bundle(api, offer["bundle_sha256"], cache)
            job_arguments(list(offer["args"]))
        except (Refused, Unreachable, ValueError, OSError, tarfile.TarError) as exc:
            reason = f"the bundle could not be used here: {exc}"
            say(f"job {job}: {reason}; giving it back")
            heartbeat.done.set()
            _release(api, offer, reason)
            return "released"
        code, stopped, last = measure(offer, bundle, workdir, heartbeat)
        heartbeat.done.set()
        if heartbeat.lost.is_set():
            say(f"job {job}: stopped, {stopped}; nothing reported")
            return "stale"
        outcome = "succeeded" if code == 0 and not stopped else "failed"
        error = "" if outcome == "succeeded" else (stopped or last)
        state = report(api, offer, outcome, error, _result(workdir), backoff)
        say(f"job {job}: {state}{': ' + error if error else ''}")
        return state
    except BaseException:
        heartbeat.done.set()
        _release(api, offer, "the agent was stopped")
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _release(api: Api, offer: Dict, reason: str) -> None:
    try:
        api.call("POST", f"/api/v1/jobs/{offer['job_id']}/release", {"lease_id": offer["lease_id"],
                                                                      "reason": reason}, timeout=10)
    except (Refused, Unreachable) as exc:
        say(f"job {offer['job_id']}: could not give it back ({exc}); its lease will run out on the server")


# ---- the loop ---------------------------------------------------------------------------------------------------

def work_loop(args) -> int:
    backoff = Backoff(cap=args.retry_max)
    token = device_token(args, backoff)
    api = Api(args.server, token)
    for sub in ("work", "bundles"):
        os.makedirs(os.path.join(args.cache, sub), exist_ok=True)
    say(f"waiting for jobs from {args.server}")
    while True:
        try:
            status, offer = api.call("POST", "/api/v1/lease", {"wait": args.poll_wait, "clock": time.time()},
                                     timeout=args.poll_wait + 30)
        except Unreachable as exc:
            backoff.wait(str(exc))
            continue
        backoff.reset()
        if status == 204 or not offer:
            continue
        state = run_job(api, offer, args.cache, backoff)
        if args.once:
            return EXIT_OK if state == "succeeded" else EXIT_FAILED


def work_main(args) -> int:
    if not args.server.startswith(("http://", "https://")):
        print(f"error: --server {args.server} is not a URL: give http://HOST:8700", file=sys.stderr)
        return 2
    args.name = args.name or socket.gethostname()
    args.labels = [label for label in (args.labels or "").split(",") if label]
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a service stop: give the job back, as Ctrl-C does
    try:
        return work_loop(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Refused as exc:
        print(f"error: the server refused this agent: {exc.detail} ({exc.status})", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: the job in hand (if any) was given back", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def add_parser(commands) -> None:
    work = commands.add_parser("work", help="pull benchmark jobs from an `edgebench serve` fleet")
    work.add_argument("--server", required=True, help="the fleet server, e.g. http://192.168.1.10:8700")
    work.add_argument("--token-file", required=True,
                      help="file with a registration token (first start) or this device's token (replaced, mode 600)")
    work.add_argument("--name", help="this device's name in the fleet (default: hostname)")
    work.add_argument("--labels", help="comma-separated labels jobs may ask for, e.g. arm64,pi4")
    work.add_argument("--once", action="store_true", help="run one job, then exit (0 if it succeeded)")
    work.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "edgebench-agent"),
                      help="bundles by sha256 and the work folders (default ~/.cache/edgebench-agent)")
    work.add_argument("--poll-wait", type=float, default=20.0, help="seconds one long poll waits for a job")
    work.add_argument("--retry-max", type=float, default=30.0, help="longest wait between retries, seconds")
