"""`edgebench.devices`: the devices file's devices (and this machine), each checked: reachable, Python,
runtimes; returns one `DeviceCheck` per device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from edgebench.api.progress import printer
from edgebench.devices.bench import MISSING_PACKAGES, PROBE, parse_probe, probe_local, runtimes_found
from edgebench.devices.fleet import entry_status
from edgebench.devices.remote import Remote, quote
from edgebench.devices.spec import load_devices
from edgebench.errors import EdgebenchError


@dataclass(frozen=True, kw_only=True)
class DeviceCheck:
    """One device: `status` is 'ok', or why it cannot run the agent (unreachable, no Python, missing packages)."""

    name: str
    address: str
    status: str
    python: Optional[str] = None
    runtimes: Tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "address": self.address, "status": self.status, "python": self.python,
                "runtimes": list(self.runtimes)}

    def line(self) -> str:
        """The fixed-width line `edgebench devices` prints."""
        return (f"{self.name:<12} {self.address:<28} python {self.python or '-':<8} "
                f"{','.join(self.runtimes) or '-':<28} {self.status}")


def devices(devices=None, *, progress=False) -> List[DeviceCheck]:
    """Check this machine ('local') and each device of the devices file `devices` (default ./devices.yaml, then
    ~/.config/edgebench/devices.yaml): a device that fails is listed with the reason, never raised. A bad
    devices file raises `BadInputError`. With `progress`, each device's line as it is checked."""
    log = printer(progress)
    checks = []
    for name, device in {"local": None, **load_devices(None if devices is None else str(devices))}.items():
        checks.append(_check(name, device))
        log(checks[-1].line())
    return checks


def _check(name: str, device) -> DeviceCheck:
    if device is not None and device.kind == "fleet":  # a devices-file entry with server:, asked of its server
        return DeviceCheck(name=name, **entry_status(device))
    address = "this machine" if device is None else f"{device.destination}:{device.port}"
    try:
        if device is None:
            probe = probe_local()
        else:
            done = Remote(device, connect_timeout=5).run(f"{device.python} -c {quote(PROBE)}", check=False)
            if done.returncode != 0:
                raise EdgebenchError(f"'{device.python}' does not run: install Python 3.9+ or set python")
            probe = parse_probe(done.stdout, name)
    except EdgebenchError as exc:
        return DeviceCheck(name=name, address=address, status=str(exc))
    runtimes = tuple(runtimes_found(probe))
    status = "ok" if probe["modules"]["numpy"] and runtimes else f"missing packages: {MISSING_PACKAGES}"
    return DeviceCheck(name=name, address=address, status=status, python=probe["python"], runtimes=runtimes)
