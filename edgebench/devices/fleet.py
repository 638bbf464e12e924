"""The host's side of the fleet: reach `edgebench serve` with a token, upload a bundle once (by its sha256),
submit a job for a device (`fleet:NAME`) or labels (`fleet:labels=arm64,pi4`), follow it, and bring its result
home. The server and token come from `--server`/`--token`, else EDGEBENCH_SERVER/EDGEBENCH_TOKEN, else the devices
file's entry (`server:`, `token_file:`)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from device_agent.formats import probe_modules
from edgebench.devices.bench import check_bundle, result_name
from edgebench.errors import EdgebenchError
from edgebench.fileio import write_json

PREFIX = "fleet:"


@dataclass(frozen=True, kw_only=True)
class FleetTarget:
    device: Optional[str] = None
    labels: Tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.device or "+".join(self.labels)


def parse_target(text: str) -> FleetTarget:
    rest = text[len(PREFIX):] if text.startswith(PREFIX) else text
    if rest.startswith("labels="):
        labels = tuple(label for label in rest[len("labels="):].split(",") if label)
        if labels:
            return FleetTarget(labels=labels)
    elif rest:
        return FleetTarget(device=rest)
    raise EdgebenchError(f"'{text}' names no fleet device: write fleet:NAME or fleet:labels=LABEL,LABEL")


def connection(server: Optional[str], token: Optional[str], entry_server: Optional[str] = None,
               token_file: Optional[str] = None) -> Tuple[Optional[str], Optional[str]]:
    """(server, token): the arguments, else EDGEBENCH_SERVER / EDGEBENCH_TOKEN, else a devices-file entry's."""
    server = server or os.environ.get("EDGEBENCH_SERVER") or entry_server
    token = token or os.environ.get("EDGEBENCH_TOKEN")
    if not token and token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise EdgebenchError(f"cannot read the token file {token_file}: {getattr(exc, 'strerror', None) or exc}"
                                 ) from None
        if not token:
            raise EdgebenchError(f"the token file {token_file} is empty: write a submit token there")
    return server, token


class FleetClient:
    """Calls to the server; every failure is one EdgebenchError naming the server and the reason."""

    def __init__(self, server: Optional[str] = None, token: Optional[str] = None, timeout: float = 30.0):
        import httpx  # the server extra: only the fleet's commands need it

        self.server = (server or os.environ.get("EDGEBENCH_SERVER") or "").rstrip("/")
        self.token = token or os.environ.get("EDGEBENCH_TOKEN") or ""
        if not self.server.startswith(("http://", "https://")):
            raise EdgebenchError(f"no fleet server: give --server http://HOST:8700 or set EDGEBENCH_SERVER "
                                 f"(got '{self.server[:80]}')")
        if not self.token:
            raise EdgebenchError("no fleet token: give --token TOKEN or set EDGEBENCH_TOKEN (`edgebench serve` "
                                 "printed the admin token on its first start)")
        self._http = httpx.Client(base_url=self.server, timeout=timeout,
                                  headers={"Authorization": f"Bearer {self.token}"})

    def call(self, method: str, path: str, expect=(200, 201), **kwargs):
        import httpx  # the server extra, as above

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise EdgebenchError(f"cannot reach the fleet server {self.server}: {exc or type(exc).__name__} "
                                 "(is `edgebench serve` running there?)") from None
        if response.status_code not in expect:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text[:200]
            raise EdgebenchError(f"the fleet server refused {method} {path} ({response.status_code}): {detail}")
        return response

    def json(self, method: str, path: str, **kwargs):
        return self.call(method, path, **kwargs).json()

    def upload(self, data: bytes, sha256: str) -> bool:
        """True when the blob was sent, False when the server had it already."""
        if self.call("HEAD", f"/api/v1/blobs/{sha256}", expect=(200, 404)).status_code == 200:
            return False
        self.call("PUT", f"/api/v1/blobs/{sha256}", content=data)
        return True

    def close(self) -> None:
        self._http.close()


def pack_bundle(bundle: Path) -> Tuple[bytes, str]:
    """The bundle folder as a tar whose bytes depend only on the files (names sorted, times and owners zeroed):
    the same bundle always has the same sha256, so it is uploaded once."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()):
            info = tarfile.TarInfo(path.relative_to(bundle).as_posix())
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def submit(client: FleetClient, bundle: Path, target: FleetTarget, agent_args: Sequence[str],
           log: Callable[[str], None], max_duration: Optional[float] = None) -> dict:
    data, sha256 = pack_bundle(bundle)
    sent = client.upload(data, sha256)
    log(f"bundle {bundle.name}: {'uploaded ' + format(len(data) / 2**20, '.2f') + ' MiB' if sent else 'already on the server'} "
        f"(sha256 {sha256[:12]})")
    body = {"bundle_sha256": sha256, "bundle_name": bundle.name[:128], "args": list(agent_args),
            "labels": list(target.labels)}
    if target.device:
        body["device"] = target.device
    if max_duration is not None:
        body["max_duration"] = max_duration
    return client.json("POST", "/api/v1/jobs", json=body)


def follow(client: FleetClient, job_id: int, log: Callable[[str], None], poll: float = 0.5) -> dict:
    """Polls until the job is over, saying each change of state; Ctrl-C cancels it on the server."""
    said = None
    try:
        while True:
            job = client.json("GET", f"/api/v1/jobs/{job_id}")
            line = f"job {job_id}: {job['state']}" + (f" on {job['ran_on']}" if job.get("ran_on") else "") + \
                   (f" ({job['reason']})" if job.get("reason") else "")
            if line != said:
                log(line)
                said = line
            if job["state"] in ("succeeded", "failed", "errored", "expired", "cancelled"):
                return job
            time.sleep(poll)
    except KeyboardInterrupt:
        try:
            client.call("POST", f"/api/v1/jobs/{job_id}/cancel", expect=(200, 409))
            log(f"job {job_id}: cancelled on the server")
        except EdgebenchError:
            pass
        raise


class FleetTransport:
    """What `edgebench bench --device fleet:NAME` (through devices/measure.py) does with a fleet device."""

    def __init__(self, target_text: str, server: Optional[str] = None, token: Optional[str] = None,
                 name: Optional[str] = None):
        self.target_text, self.target = target_text, parse_target(target_text)
        self.name = name or self.target.name  # a devices-file entry's name, else the server's name for the device
        self.server, self.token = server, token

    @classmethod
    def from_entry(cls, spec, server: Optional[str] = None, token: Optional[str] = None) -> "FleetTransport":
        """A devices-file entry with `server:` (a `DeviceSpec` of kind "fleet")."""
        target = f"{PREFIX}{spec.fleet_device}" if spec.fleet_device else f"{PREFIX}labels={','.join(spec.labels)}"
        server, token = connection(server, token, spec.server, spec.token_file)
        return cls(target, server, token, name=spec.name)

    def status_row(self) -> dict:
        """`edgebench devices`' fields for this device (address, status, python, runtimes), asked of the server,
        never over ssh: status "ok" when a matching device is online or busy, else why not; the address names
        the server, the device and its state."""
        row = {"address": f"{self.server or '?'} ({self.target.name})", "status": "ok", "python": None,
               "runtimes": ()}
        try:
            client = FleetClient(self.server, self.token, timeout=10.0)
            try:
                devices = client.json("GET", "/api/v1/devices")
            finally:
                client.close()
        except EdgebenchError as exc:
            return {**row, "status": str(exc)}
        wanted = set(self.target.labels)
        found = [d for d in devices if d["name"] == self.target.device or (wanted and wanted <= set(d["labels"]))]
        if not found:
            which = self.target.device or f"with labels {','.join(self.target.labels)}"
            return {**row, "status": f"no device {which} has registered with {client.server}"}
        best = min(found, key=lambda d: ("online", "busy", "offline", "revoked").index(d["state"]))
        versions = best["facts"].get("versions") if isinstance(best["facts"], dict) else None
        versions = {k: v for k, v in versions.items() if isinstance(v, str)} if isinstance(versions, dict) else {}
        status = "ok" if best["state"] in ("online", "busy") else \
            f"{best['state']} on the fleet server (last seen {_ago(best['last_seen'])})"
        return {"address": f"{client.server} ({best['name']}, {best['state']})", "status": status,
                "python": versions.get("python"),
                "runtimes": tuple(module for module in probe_modules() if versions.get(module))}

    def facts(self) -> dict:
        """The device's facts as it reported them (a labels target: the labels)."""
        if not self.target.device:
            return {"fleet_labels": list(self.target.labels)}
        client = FleetClient(self.server, self.token)
        try:
            devices = client.json("GET", "/api/v1/devices")
        finally:
            client.close()
        found = next((d for d in devices if d["name"] == self.target.device), None)
        if found is None:
            raise EdgebenchError(f"no device named '{self.target.device}' has registered with {client.server}: "
                                 "see `edgebench fleet devices`")
        return found["facts"]

    def measure(self, bundle: Path, agent_args: Sequence[str], artifacts: Optional[Sequence[str]], results: Path,
                log: Callable[[str], None], keep_failed: bool) -> Tuple[Path, dict, float]:
        """(result path, result, seconds the device ran the job); the result lands where a local run's would."""
        check_bundle(Path(bundle), artifacts)
        bundle = Path(bundle).resolve()
        final = Path(results) / re.sub(r"[^A-Za-z0-9._-]+", "_", self.name) / result_name(bundle, self.name)
        client = FleetClient(self.server, self.token)
        try:
            job = submit(client, bundle, self.target, agent_args, log)
            log(f"job {job['id']} queued for {self.name} on {client.server}")
            job = follow(client, job["id"], log)
            result = _fetch_result(client, job, final)
        finally:
            client.close()
        seconds = (job["finished_at"] or 0) - (job["started_at"] or job["leased_at"] or job["finished_at"] or 0)
        return _verdict(job, result, final, log, keep_failed), result, round(max(0.0, seconds), 3)


def _ago(stamp: Optional[float]) -> str:
    return "never" if stamp is None else f"{max(0.0, time.time() - stamp):.0f} s ago"


def entry_status(spec, server: Optional[str] = None, token: Optional[str] = None) -> dict:
    """`edgebench devices`' fields for a devices-file entry with `server:`, asked of its server."""
    try:
        return FleetTransport.from_entry(spec, server, token).status_row()
    except EdgebenchError as exc:  # a token file that cannot be read
        return {"address": spec.server, "status": str(exc), "python": None, "runtimes": ()}


def _ago(stamp: Optional[float]) -> str:
    return "never" if stamp is None else f"{max(0.0, time.time() - stamp):.0f} s ago"


def _fetch_result(client: FleetClient, job: dict, final: Path) -> Optional[dict]:
    if not job.get("result_sha256"):
        return None
    result = json.loads(client.call("GET", f"/api/v1/blobs/{job['result_sha256']}").content)
    write_json(final, result)
    return result


def _verdict(job: dict, result: Optional[dict], final: Path, log: Callable[[str], None], keep_failed: bool) -> Path:
    if result is not None:
        runs: List[dict] = result["runs"]
        failed = sum(1 for r in runs if r.get("error"))
        log(f"result: {final} ({len(runs) - failed} of {len(runs)} artifacts measured)")
        if job["state"] == "succeeded" or (keep_failed and failed and result.get("complete")):
            return final
    kept = f" (result kept: {final})" if result is not None else ""
    raise EdgebenchError(f"job {job['id']} {job['state']}: {job.get('reason') or 'no reason given'}{kept}")
