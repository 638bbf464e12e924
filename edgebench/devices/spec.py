"""Where the agent runs: this machine, an ssh:// address, or a name from a devices file."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

from edgebench.errors import EdgebenchError, UnknownNameError

DEVICES_FILES = ("devices.yaml", "~/.config/edgebench/devices.yaml")
_SSH_URL = re.compile(r"^ssh://(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+)(?::(?P<port>\d+))?/?$")


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    kind: str = "ssh"  # "ssh" or "local"
    host: str = ""
    user: Optional[str] = None
    port: int = 22
    python: str = "python3"
    threads: Optional[int] = None
    workdir: str = "edgebench"  # on the device, relative to the login folder
    identity: Optional[str] = None
    ssh_options: Tuple[str, ...] = field(default_factory=tuple)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


def load_devices(path: Optional[str] = None) -> Dict[str, DeviceSpec]:
    import yaml

    candidates = [path] if path else [os.path.expanduser(p) for p in DEVICES_FILES]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            try:
                raw = yaml.safe_load(Path(candidate).read_text()) or {}
            except yaml.YAMLError as exc:
                raise EdgebenchError(f"{candidate} is not valid YAML: {str(exc).splitlines()[0]}") from None
            if not isinstance(raw, dict):
                raise EdgebenchError(f"{candidate} must map device names to settings")
            return {name: _device(name, entry, candidate) for name, entry in raw.items()}
        if path:
            raise EdgebenchError(f"devices file {path} does not exist")
    return {}


_FIELDS = {"host", "user", "port", "python", "threads", "workdir", "identity", "ssh_options"}


def _device(name: str, entry, where: str) -> DeviceSpec:
    if not isinstance(entry, dict) or "host" not in entry:
        raise EdgebenchError(f"{where}: device '{name}' needs at least a host")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise EdgebenchError(f"{where}: device '{name}' has unknown setting '{sorted(unknown)[0]}': valid settings "
                             f"are {', '.join(sorted(_FIELDS))}")
    return DeviceSpec(name=str(name), host=str(entry["host"]), user=entry.get("user"), port=int(entry.get("port", 22)),
                      python=str(entry.get("python", "python3")), threads=entry.get("threads"),
                      workdir=str(entry.get("workdir", "edgebench")), identity=entry.get("identity"),
                      ssh_options=tuple(str(o) for o in entry.get("ssh_options", ())))


def resolve_device(target: str, devices_file: Optional[str] = None) -> DeviceSpec:
    if target == "local":
        return DeviceSpec(name="local", kind="local")
    match = _SSH_URL.match(target)
    if match:
        return DeviceSpec(name=match["host"], host=match["host"], user=match["user"], port=int(match["port"] or 22))
    devices = load_devices(devices_file)
    if target in devices:
        return devices[target]
    if not devices:
        raise EdgebenchError(f"unknown device '{target}': give local, ssh://user@host[:port], or a name from "
                             f"a devices file ({', '.join(DEVICES_FILES)})")
    raise UnknownNameError("device", target, list(devices) + ["local"])
