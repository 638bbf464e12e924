"""The one measurement interface: `measure(bundle, device, settings) -> Measurement`, whatever the device is.

A device is opened from what the user typed (`--device`) by the transport registered for it:

- `local`: this machine (the agent in its own process, `devices/local.py`);
- `ssh://user@host[:port]` and the names of the devices file: over ssh (`devices/bench.py`'s path);
- `fleet:NAME`, `fleet:labels=A,B` and a devices-file name whose entry has `server:`: through an `edgebench serve`
  fleet (`devices/fleet.py`), its server and token from `server`/`token`, else EDGEBENCH_SERVER/EDGEBENCH_TOKEN,
  else the entry's `server:`/`token_file:`.

The search (`edgebench optimize`) and `edgebench bench` both measure through here and never learn how a device
is reached. A transport is any object with `name`, `fingerprint()` (the device's facts and runtime versions, the
key under which its results may be reused) and `measure(bundle, settings, log, keep_failed)`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Protocol, Tuple

from device_agent.device_info import device_facts
from edgebench.devices.bench import ArtifactsFailed, run_bench
from edgebench.devices.deploy import sync
from edgebench.devices.fleet import FleetTransport, connection
from edgebench.devices.local import AGENT_SOURCE
from edgebench.devices.remote import Remote, quote
from edgebench.devices.spec import DeviceSpec, resolve_device
from edgebench.errors import EdgebenchError, UnknownNameError

Log = Callable[[str], None]
# Facts that change from one call to the next and say nothing of what the device is.
VOLATILE_FACTS = ("unavailable", "cpufreq", "emulation_evidence")


@dataclass(frozen=True, kw_only=True)
class MeasureSettings:
    """How to measure: the agent's options (checked by its own parser), which artifacts, where results land."""

    agent_args: Tuple[str, ...] = ()
    artifacts: Optional[Tuple[str, ...]] = None  # None: every artifact of the bundle
    results: Path = Path("results")  # host folder for result files (one sub-folder per device)


@dataclass(frozen=True, kw_only=True)
class Measurement:
    path: Optional[Path]  # the result file on the host (None for a device that keeps none)
    result: Dict = field(repr=False)  # the agent's result JSON
    device_seconds: float  # wall seconds the device was busy with this measurement (copies included)

    @property
    def failed(self) -> Tuple[str, ...]:
        return tuple(str(run.get("config") or run.get("artifact")) for run in self.result.get("runs", [])
                     if run.get("error"))


class Device(Protocol):
    name: str

    def fingerprint(self) -> Dict: ...

    def measure(self, bundle: Path, settings: MeasureSettings, log: Log, keep_failed: bool) -> Measurement: ...


# (what the user typed, the devices file, server=, token=) -> device; server and token matter to fleet devices only
Factory = Callable[..., Device]
TRANSPORTS: Dict[str, Factory] = {}


def register_transport(scheme: str, factory: Factory) -> None:
    """`scheme` answers `scheme:...` and `scheme://...` (and `local`, the bare word)."""
    TRANSPORTS[scheme] = factory


def scheme_of(target: str) -> str:
    """Which transport answers `target`: its scheme when it has a registered one, else ssh (a devices-file name)."""
    if target in TRANSPORTS:
        return target
    head = target.split(":", 1)[0] if ":" in target else ""
    if head in TRANSPORTS:
        return head
    if head and target.startswith(f"{head}://"):
        raise UnknownNameError("device transport", head, TRANSPORTS)
    return "ssh"


def open_device(target: str, devices_file: Optional[str] = None, *, server: Optional[str] = None,
                token: Optional[str] = None) -> Device:
    """The device `target` names; a bad name or address fails here, before anything is exported or copied.
    `server` and `token` (a fleet's) win over EDGEBENCH_SERVER / EDGEBENCH_TOKEN and the devices file's entry."""
    return TRANSPORTS[scheme_of(target)](target, devices_file, server=server, token=token)


def measure(bundle: Path, device: Device, settings: MeasureSettings, log: Log = print,
            keep_failed: bool = False) -> Measurement:
    """Measure `bundle` on `device`. With `keep_failed`, artifacts that failed on the device (a runtime crash,
    a missing runtime) come back as runs with an `error` instead of stopping the caller."""
    return device.measure(Path(bundle), settings, log, keep_failed)


def stable_facts(facts: Dict) -> Dict:
    """The agent's `info` without what changes between calls: the device part of a cache key."""
    return {key: value for key, value in facts.items() if key not in VOLATILE_FACTS}


class AgentDevice:
    """This machine or an ssh device: the agent deployed and run by `devices/bench.py`."""

    def __init__(self, target: str, devices_file: Optional[str], spec: Optional[DeviceSpec] = None):
        self.spec = spec or resolve_device(target, devices_file)
        self.name = self.spec.name
        self._facts: Optional[Dict] = None

    def fingerprint(self) -> Dict:
        if self._facts is None:
            self._facts = stable_facts(self._local_info() if self.spec.kind == "local" else self._remote_info())
        return self._facts

    def _local_info(self) -> Dict:
        return device_facts(None)

    def _remote_info(self) -> Dict:
        remote = Remote(self.spec)
        workdir = self.spec.workdir.rstrip("/")
        remote.run(f"mkdir -p {quote(workdir)}")
        sync(remote, self.spec.python, AGENT_SOURCE, f"{workdir}/device_agent")
        done = remote.run(f"cd {quote(workdir)} && {quote(self.spec.python)} -m device_agent info")
        try:
            return json.loads(done.stdout)
        except ValueError:
            raise EdgebenchError(f"{self.name}: the agent's info printed no JSON ({done.stdout.strip()[-100:]})") \
                from None

    def measure(self, bundle: Path, settings: MeasureSettings, log: Log, keep_failed: bool) -> Measurement:
        started = time.monotonic()
        artifacts = list(settings.artifacts) if settings.artifacts is not None else None
        agent_args = list(settings.agent_args)
        if artifacts is not None and "--artifacts" not in agent_args:  # the agent measures only these
            agent_args += ["--artifacts", ",".join(artifacts)]
        try:
            path = run_bench(bundle, self.spec, Path(settings.results), agent_args, log=log, artifacts=artifacts)
        except ArtifactsFailed as exc:
            if not keep_failed:
                raise
            path = exc.path
        seconds = time.monotonic() - started
        return Measurement(path=path, result=json.loads(Path(path).read_text(encoding="utf-8")),
                           device_seconds=round(seconds, 3))


class FleetDevice:
    """A device of an `edgebench serve` fleet: `fleet:NAME`, `fleet:labels=A,B` or a devices-file entry with
    `server:` (devices/fleet.py, over httpx)."""

    def __init__(self, target: str, devices_file: Optional[str] = None, *, server: Optional[str] = None,
                 token: Optional[str] = None, spec: Optional[DeviceSpec] = None):
        if spec is not None:
            self._transport = FleetTransport.from_entry(spec, server, token)
        else:
            self._transport = FleetTransport(target, *connection(server, token))
        self.name = self._transport.name

    def fingerprint(self) -> Dict:
        return stable_facts(self._transport.facts())

    def measure(self, bundle: Path, settings: MeasureSettings, log: Log, keep_failed: bool) -> Measurement:
        path, result, seconds = self._transport.measure(bundle, settings.agent_args, settings.artifacts,
                                                        settings.results, log, keep_failed)
        return Measurement(path=path, result=result, device_seconds=seconds)


def _agent_or_fleet(target: str, devices_file: Optional[str], *, server: Optional[str] = None,
                    token: Optional[str] = None) -> Device:
    """`local`, an ssh:// address or a devices-file name: a fleet device when its entry has `server:`."""
    spec = resolve_device(target, devices_file)
    if spec.kind == "fleet":
        return FleetDevice(target, devices_file, server=server, token=token, spec=spec)
    return AgentDevice(target, devices_file, spec)


register_transport("local", _agent_or_fleet)
register_transport("ssh", _agent_or_fleet)
register_transport("fleet", FleetDevice)
