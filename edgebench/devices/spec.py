"""Where the agent runs: this machine, an ssh:// address, or a name from a devices file (reached over ssh, or
through an `edgebench serve` fleet when its entry has `server:`)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

from edgebench.errors import EdgebenchError, UnknownNameError

DEVICES_FILES = ("devices.yaml", "~/.config/edgebench/devices.yaml")
_SSH_URL = re.compile(r"^ssh://(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+)(?::(?P<port>\d+))?/?$")


@dataclass(frozen=True, kw_only=True)
class DeviceSpec:
    name: str
    kind: str = "ssh"  # "ssh", "local" or "fleet"
    host: str = ""
    user: Optional[str] = None
    port: int = 22
    python: str = "python3"
    threads: Optional[int] = None
    workdir: str = "edgebench"  # on the device, relative to the login folder
    identity: Optional[str] = None
    ssh_options: Tuple[str, ...] = field(default_factory=tuple)
    server: Optional[str] = None  # fleet: the server's URL
    token_file: Optional[str] = None  # fleet: a file holding a submit token (mode 600)
    fleet_device: Optional[str] = None  # fleet: the device's name on the server (None: any with `labels`)
    labels: Tuple[str, ...] = field(default_factory=tuple)  # fleet: any device with all of these

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


def load_devices(path: Optional[str] = None) -> Dict[str, DeviceSpec]:
    """The devices of `path`, else of the first default devices file that exists; {} when there is none."""
    candidates = [path] if path else [os.path.expanduser(p) for p in DEVICES_FILES]
    for candidate in candidates:
        if Path(candidate).is_file():
            return _read_devices(candidate)
        if path:
            if Path(candidate).exists():
                raise EdgebenchError(f"devices file {path} is not a file: give a YAML file of name: {{host: ...}}")
            raise EdgebenchError(f"devices file {path} does not exist")
    return {}


def _read_devices(where: str) -> Dict[str, DeviceSpec]:
    import yaml  # PyYAML: imported only where a devices file is read

    try:
        text = Path(where).read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except OSError as exc:
        raise EdgebenchError(f"cannot read devices file {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EdgebenchError(f"{where} is not a text file: write YAML, name: {{host: ..., user: ...}}") from None
    except yaml.YAMLError as exc:
        raise EdgebenchError(f"{where} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if raw is None:
        raise EdgebenchError(f"{where} is empty: write one device per name, e.g. pi5: {{host: 192.168.1.20, "
                             "user: pi}")
    if not isinstance(raw, dict):
        raise EdgebenchError(f"{where} must map device names to settings (e.g. pi5: {{host: ..., user: ...}}), "
                             f"not a {type(raw).__name__}")
    return {str(name): _device(str(name), entry, where) for name, entry in raw.items()}


_FIELDS = {"host", "user", "port", "python", "threads", "workdir", "identity", "ssh_options"}
FLEET_FIELDS = {"server", "token_file", "device", "labels"}
# What ssh could read as an option or that a shell would split is refused in a host or user name.
_SAFE_WORD = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.:%@+\[\]-]*$")


def _device(name: str, entry, where: str) -> DeviceSpec:
    def bad(field_name: str, why: str) -> EdgebenchError:
        return EdgebenchError(f"{where}: device '{name}': {field_name} {why}")

    if name == "local" or not name.strip():
        raise EdgebenchError(f"{where}: device name '{name}' is not usable: 'local' is this machine; choose another "
                             "name")
    if not isinstance(entry, dict):
        raise bad("settings", f"must be a mapping such as {{host: ..., user: ...}}, not {entry!r}")
    if "server" in entry:
        return _fleet_device(name, entry, where, bad)
    unknown = set(entry) - _FIELDS
    if unknown:
        valid = "" if set(unknown) - FLEET_FIELDS else f" (a fleet device: {', '.join(sorted(FLEET_FIELDS))}, " \
                                                        "with server:)"
        raise EdgebenchError(f"{where}: device '{name}' has unknown setting '{sorted(map(str, unknown))[0]}': "
                             f"valid settings are {', '.join(sorted(_FIELDS))}{valid}")
    if "host" not in entry:
        raise bad("host", "is missing: every device needs at least a host")
    host, user = entry["host"], entry.get("user")
    for field_name, value in (("host", host), ("user", user)):
        if value is not None and not (isinstance(value, (str, int)) and not isinstance(value, bool)
                                      and _SAFE_WORD.match(str(value))):
            raise bad(field_name, f"{value!r} is not a host or user name (letters, digits, '.', '-', '_'; not "
                                  "starting with '-')")
    port = entry.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise bad("port", f"{port!r} is not a port number: give a whole number from 1 to 65535")
    threads = entry.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
        raise bad("threads", f"{threads!r} is not a thread count: give 0 (the runtime's default) or more")
    for field_name in ("python", "workdir", "identity"):
        value = entry.get(field_name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise bad(field_name, f"{value!r} must be a non-empty text")
    options = entry.get("ssh_options", ())
    if isinstance(options, str) or not isinstance(options, (list, tuple)) or not all(
            isinstance(o, str) and "=" in o for o in options):
        raise bad("ssh_options", f"{options!r} must be a list of ssh options such as [StrictHostKeyChecking=no]")
    return DeviceSpec(name=name, host=str(host), user=None if user is None else str(user), port=port,
                      python=entry.get("python", "python3"), threads=threads,
                      workdir=entry.get("workdir", "edgebench"), identity=entry.get("identity"),
                      ssh_options=tuple(options))


def _fleet_device(name: str, entry: dict, where: str, bad) -> DeviceSpec:
    """`name: {server: http://HOST:8700, token_file: PATH, device: NAME | labels: [A, B]}`."""
    if "host" in entry:
        raise bad("server", "and host cannot be mixed: server: reaches the device through a fleet, host: over ssh; "
                            "keep one")
    unknown = set(entry) - FLEET_FIELDS
    if unknown:
        raise EdgebenchError(f"{where}: device '{name}' has unknown setting '{sorted(map(str, unknown))[0]}': "
                             f"valid settings with server: are {', '.join(sorted(FLEET_FIELDS))}")
    server = entry["server"]
    if not isinstance(server, str) or not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", server):
        raise bad("server", f"{server!r} is not a server URL: give http://HOST:8700 or https://HOST")
    device, labels = entry.get("device"), entry.get("labels")
    if device is not None and (not isinstance(device, str) or not device.strip()):
        raise bad("device", f"{device!r} must be the device's name on the server")
    if labels is not None and (isinstance(labels, str) or not isinstance(labels, (list, tuple)) or not labels
                               or not all(isinstance(x, str) and x.strip() and "," not in x for x in labels)):
        raise bad("labels", f"{labels!r} must be a list of labels such as [arm64, pi4]")
    if device is not None and labels is not None:
        raise bad("device", "and labels cannot be mixed: name one device, or labels for any device that has them")
    token_file = entry.get("token_file")
    if token_file is not None:
        token_file = _check_token_file(token_file, Path(where).parent, bad)
    return DeviceSpec(name=name, kind="fleet", server=server.rstrip("/"), token_file=token_file,
                      fleet_device=None if labels else (device or name), labels=tuple(labels or ()))


def _check_token_file(value, folder: Path, bad) -> str:
    """The token file's path (`~` expanded, a relative one from the devices file's folder): a file only its
    owner can read."""
    if not isinstance(value, str) or not value.strip():
        raise bad("token_file", f"{value!r} must be the path of a file holding a submit token")
    path = folder / os.path.expanduser(value)
    if not path.is_file():
        raise bad("token_file", f"{value} {'is not a file' if path.exists() else 'does not exist'}: write the "
                                "token there (`edgebench fleet token create --role submit`) and chmod 600 it")
    mode = path.stat().st_mode & 0o777
    if mode & 0o044:
        raise bad("token_file", f"{value} is readable by others (mode {mode:o}): chmod 600 {value}")
    return str(path)


def resolve_device(target: str, devices_file: Optional[str] = None) -> DeviceSpec:
    if target == "local":
        return DeviceSpec(name="local", kind="local")
    match = _SSH_URL.match(target)
    if match:
        port = int(match["port"] or 22)
        for part in (match["host"], match["user"]):
            if part is not None and not _SAFE_WORD.match(part):
                raise EdgebenchError(f"'{part}' in {target} is not a host or user name (letters, digits, '.', '-', "
                                     "'_'; not starting with '-')")
        if not 1 <= port <= 65535:
            raise EdgebenchError(f"port {port} in {target} is out of range: give 1 to 65535")
        return DeviceSpec(name=match["host"], host=match["host"], user=match["user"], port=port)
    if target.startswith("ssh:"):
        raise EdgebenchError(f"'{target}' is not an ssh address: write ssh://user@host or ssh://user@host:port")
    devices = load_devices(devices_file)
    if target in devices:
        return devices[target]
    if not devices:
        raise EdgebenchError(f"unknown device '{target}': give local, ssh://user@host[:port], or a name from "
                             f"a devices file ({', '.join(DEVICES_FILES)})")
    raise UnknownNameError("device", target, list(devices) + ["local"])
