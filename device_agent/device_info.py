"""Facts about the device: what it is, how fast its cores run, how hot it is, whether it throttles, and
whether it is emulated.

A fact that cannot be read (no /sys, no /proc/cpuinfo, no permission, getprop denied) is null, with the reason
in `unavailable`; a fact that contradicts the architecture this process runs as (qemu-user passes the host's
/proc/cpuinfo through) is dropped, with the reason, and counts as evidence of emulation. Runtime versions
are read in child processes, so a runtime that aborts on import costs only its version.
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
from importlib import metadata
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

from device_agent.formats import distributions, runtime_modules
from device_agent.isolation import call

RUNTIME_MODULES = ("numpy", *runtime_modules(), "psutil")
# Installed distributions that provide each module: their metadata gives the version without an import.
DISTRIBUTIONS = {"numpy": ("numpy",), **distributions(), "psutil": ("psutil",)}
PROBE_TIMEOUT_S = 60.0
ANDROID_PROPERTIES = ("ro.product.manufacturer", "ro.product.model", "ro.build.version.release", "ro.soc.model",
                      "ro.board.platform", "ro.product.cpu.abi")
BATTERY_TEMP_FILE = "/sys/class/power_supply/battery/temp"
X86_CPU_NAMES = re.compile(r"\b(Intel|AMD|EPYC|Xeon|Ryzen|Core\(TM\)|Pentium|Celeron|Athlon|Opteron|"
                           r"QEMU Virtual CPU|x86)", re.IGNORECASE)
Unavailable = Dict[str, str]


def read_text(path: str) -> Tuple[Optional[str], str]:
    """The file's text, or None and why not."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace").strip("\x00\n "), ""
    except FileNotFoundError:
        return None, f"{path} does not exist"
    except PermissionError:
        return None, f"{path}: permission denied"
    except OSError as exc:
        return None, f"{path}: {exc.strerror or exc}"


def _read(path: str) -> Optional[str]:
    return read_text(path)[0]


def run_command(*args: str, timeout: float = 3.0) -> Tuple[Optional[str], str]:
    """The command's stdout, or None and why not (not installed, failed, denied, silent, too slow)."""
    if shutil.which(args[0]) is None:
        return None, f"{args[0]} is not installed"
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, f"{args[0]} gave no answer within {timeout:g} s"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{args[0]} could not run: {exc}"
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [""])[0][:160]
        return None, f"{' '.join(args)} exited with code {done.returncode}" + (f": {said}" if said else "")
    if not done.stdout.strip():
        return None, f"{' '.join(args)} printed nothing (not permitted or not set)"
    return done.stdout.strip(), ""


def arch_family(machine: str) -> Optional[str]:
    name = machine.lower()
    if name in ("x86_64", "amd64", "i386", "i486", "i586", "i686", "x86"):
        return "x86"
    if name.startswith(("aarch64", "arm")):
        return "arm"
    for family in ("riscv", "ppc", "s390", "mips", "loongarch"):
        if name.startswith(family):
            return family
    return None


def _cpuinfo_fields(text: str) -> Dict[str, str]:
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def cpuinfo_family(text: str) -> Tuple[Optional[str], str]:
    """Which architecture /proc/cpuinfo describes, and the line that says so."""
    fields = _cpuinfo_fields(text)
    if fields.get("vendor_id") in ("GenuineIntel", "AuthenticAMD", "HygonGenuine", "CentaurHauls"):
        return "x86", f"vendor_id {fields['vendor_id']}"
    if X86_CPU_NAMES.search(fields.get("model name", "")):
        return "x86", f"model name '{fields['model name']}'"
    if "CPU implementer" in fields or "CPU architecture" in fields:
        return "arm", f"CPU implementer {fields.get('CPU implementer', '?')}"
    return None, ""


def cpu_model(machine: str, cpuinfo: Optional[str], unavailable: Unavailable) -> Optional[str]:
    if cpuinfo is None:
        unavailable["cpu_model"] = "/proc/cpuinfo cannot be read"
        return None
    family, evidence = cpuinfo_family(cpuinfo)
    own = arch_family(machine)
    if family and own and family != own:
        unavailable["cpu_model"] = (f"/proc/cpuinfo describes an {family} CPU ({evidence}) on this {machine} "
                                    "system: it belongs to the machine that emulates this one")
        return None
    fields = _cpuinfo_fields(cpuinfo)
    for key in ("model name", "Hardware", "Model", "cpu model", "Processor"):
        if fields.get(key):
            return fields[key]
    unavailable["cpu_model"] = "/proc/cpuinfo names no CPU model"
    return None


def emulation(machine: str, cpuinfo: Optional[str]) -> Dict:
    """`emulated` and the evidence: facts of the kernel or the CPU that belong to another architecture than
    the one this process runs as (qemu-user translates the program but not the kernel's files)."""
    evidence: List[str] = []
    own = arch_family(machine)
    kernel_arch = _read("/proc/sys/kernel/arch")
    if kernel_arch and own and arch_family(kernel_arch) not in (None, own):
        evidence.append(f"the kernel is {kernel_arch} (/proc/sys/kernel/arch) but this process runs as {machine}")
    family, found = cpuinfo_family(cpuinfo or "")
    if family and own and family != own:
        evidence.append(f"/proc/cpuinfo describes an {family} CPU ({found}) but this process runs as {machine}")
    binfmt = _read(f"/proc/sys/fs/binfmt_misc/qemu-{machine}")
    if binfmt and binfmt.startswith("enabled"):
        evidence.append(f"binfmt_misc runs {machine} programs through qemu-{machine}, which a native {machine} "
                        "kernel does not need")
    return {"emulated": bool(evidence), "evidence": evidence}


def _sys(root: str, path: str) -> str:
    """`path` (absolute, as on the device) under `root`: "/" on the device, a folder laid out as /sys in tests."""
    return os.path.join(root, path.lstrip("/"))


def cpufreq(root: str = "/") -> List[Dict]:
    cores = []
    folders = {int(re.search(r"cpu(\d+)/cpufreq$", folder).group(1)): folder
               for folder in glob.glob(_sys(root, "/sys/devices/system/cpu/cpu[0-9]*/cpufreq"))}
    for cpu, folder in sorted(folders.items()):
        cur, top = _read(f"{folder}/scaling_cur_freq"), _read(f"{folder}/cpuinfo_max_freq")
        cores.append({"cpu": cpu,
                      "cur_mhz": int(cur) // 1000 if cur and cur.isdigit() else None,
                      "max_mhz": int(top) // 1000 if top and top.isdigit() else None,
                      "governor": _read(f"{folder}/scaling_governor")})
    return cores


def temperatures(root: str = "/") -> Dict[str, float]:
    """Degrees C per thermal zone, keyed "thermal_zoneN:<type>"."""
    temps = {}
    for zone in sorted(glob.glob(_sys(root, "/sys/class/thermal/thermal_zone*"))):
        raw = _read(f"{zone}/temp")
        if raw and raw.lstrip("-").isdigit():
            name = _read(f"{zone}/type") or os.path.basename(zone)
            temps[f"{os.path.basename(zone)}:{name}"] = round(int(raw) / 1000.0, 1)
    return temps


# The Raspberry Pi firmware's throttle word: bits 0-3 hold now, bits 16-19 the same conditions since boot.
THROTTLE_BITS = (("under_voltage", 0), ("freq_capped", 1), ("throttled_now", 2), ("soft_temp_limit", 3))
SINCE_BOOT_SHIFT = 16
# The kernel's copy of the word (Raspberry Pi OS kernels): a file read, much cheaper than running vcgencmd.
THROTTLED_SYSFS = "/sys/devices/platform/soc/soc:firmware/get_throttled"


def parse_throttled(text: str) -> Optional[Dict]:
    """`vcgencmd get_throttled` ("throttled=0x50005") or the sysfs file ("50005") -> the flags, now and since
    boot; None when the text holds no hexadecimal number."""
    try:
        value = int(text.strip().rpartition("=")[2], 16)
    except ValueError:
        return None
    flags = {name: bool(value >> bit & 1) for name, bit in THROTTLE_BITS}
    flags.update({f"{name.replace('_now', '')}_since_boot": bool(value >> (bit + SINCE_BOOT_SHIFT) & 1)
                  for name, bit in THROTTLE_BITS})
    return {"raw": hex(value), **flags, "now": bool(value & 0xF), "any": value != 0}


def throttle_source(root: str = "/") -> Optional[Tuple[str, str]]:
    """Where this device tells its throttle word: ("file", path), ("command", vcgencmd's path) or None."""
    path = _sys(root, THROTTLED_SYSFS)
    if os.path.isfile(path):
        return "file", path
    command = shutil.which("vcgencmd")
    return ("command", command) if command else None


def read_throttled(source: Optional[Tuple[str, str]]) -> Optional[Dict]:
    if source is None:
        return None
    kind, where = source
    text = _read(where) if kind == "file" else run_command(where, "get_throttled", timeout=2.0)[0]
    return parse_throttled(text) if text else None


def throttled(root: str = "/") -> Optional[Dict]:
    """Raspberry Pi firmware flags (the sysfs copy, else `vcgencmd get_throttled`); None elsewhere."""
    return read_throttled(throttle_source(root))


def on_android() -> bool:
    return "ANDROID_ROOT" in os.environ or "com.termux" in sys.prefix


def battery_temperature(unavailable: Unavailable) -> Optional[float]:
    """Degrees C from the kernel (tenths of a degree), else from `termux-battery-status` (Termux:API)."""
    raw, reason = read_text(BATTERY_TEMP_FILE)
    if raw and raw.lstrip("-").isdigit():
        return round(int(raw) / 10.0, 1)
    out, api_reason = run_command("termux-battery-status", timeout=10.0)
    if out:
        try:
            return round(float(json.loads(out)["temperature"]), 1)
        except (ValueError, KeyError, TypeError):
            api_reason = "termux-battery-status gave no temperature"
    unavailable["android.battery_temp_c"] = f"{reason or BATTERY_TEMP_FILE + ' is not a number'}; {api_reason}"
    return None


def android(unavailable: Unavailable, detected: Optional[bool] = None) -> Optional[Dict]:
    """Android properties and battery temperature (Termux); each one null with a reason where denied."""
    if not (on_android() if detected is None else detected):
        return None
    facts: Dict[str, Optional[object]] = {}
    for key in ANDROID_PROPERTIES:
        facts[key], reason = run_command("getprop", key)
        if facts[key] is None:
            unavailable[f"android.{key}"] = reason
    facts["battery_temp_c"] = battery_temperature(unavailable)
    return facts


def probe_version(request: Dict) -> Dict:
    """Runs in a child process: import one module and report its version."""
    module = importlib.import_module(request["module"])
    return {"version": str(getattr(module, "__version__", "?"))}


def _distribution_version(module: str) -> Optional[str]:
    for name in DISTRIBUTIONS.get(module, (module,)):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def runtime_versions(unavailable: Unavailable, modules=RUNTIME_MODULES,
                     timeout: float = PROBE_TIMEOUT_S) -> Dict[str, Optional[str]]:
    """Python's version and each module's (None: not installed). A version comes from the module when it is
    imported here already, else from the installed distribution's metadata (nothing is imported), else from
    importing the module in a child process (in parallel, with a timeout), so a runtime that aborts on import
    costs only its version."""
    versions: Dict[str, Optional[str]] = {"python": platform.python_version()}
    probed = []
    for module in modules:
        if sys.modules.get(module) is not None:
            versions[module] = str(getattr(sys.modules[module], "__version__", "?"))
        elif not _installed(module):
            versions[module] = None
        else:
            versions[module] = _distribution_version(module)
            if versions[module] is None:
                probed.append(module)

    def probe(module: str) -> Tuple[str, Optional[str], str]:
        try:
            return module, call({"kind": "version", "module": module}, timeout=timeout, quiet=True)["version"], ""
        except Exception as exc:  # a crash, a timeout or an import error: the version stays unknown
            return module, None, f"importing {module} failed: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, len(probed))) as pool:
        for module, version, reason in pool.map(probe, probed):
            versions[module] = version
            if reason:
                unavailable[f"versions.{module}"] = reason
    return {key: versions[key] for key in ("python", *modules)}


def _memory_total_mb(unavailable: Unavailable) -> Optional[int]:
    text, reason = read_text("/proc/meminfo")
    for line in (text or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    unavailable["memory_mb"] = reason or "/proc/meminfo has no MemTotal line"
    return None


def _os_name(unavailable: Unavailable) -> Optional[str]:
    text, reason = read_text("/etc/os-release")
    for line in (text or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"') or None
    unavailable["os"] = reason or "/etc/os-release has no PRETTY_NAME"
    return None


def _board(unavailable: Unavailable) -> Optional[str]:
    text, reason = read_text("/proc/device-tree/model")
    if text is None:
        unavailable["board"] = reason
    return text


def device_facts(name: Optional[str] = None) -> Dict:
    unavailable: Unavailable = {}
    machine = platform.machine()
    cpuinfo, cpuinfo_reason = read_text("/proc/cpuinfo")
    cores = cpufreq()
    if not cores:
        unavailable["cpufreq"] = "/sys/devices/system/cpu/cpu*/cpufreq is absent (no /sys, or no cpufreq driver)"
    facts = {
        "name": name or socket.gethostname(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": machine,
        "os": _os_name(unavailable),
        "cpu_model": cpu_model(machine, cpuinfo, unavailable),
        "cores": os.cpu_count(),
        "memory_mb": _memory_total_mb(unavailable),
        "board": _board(unavailable),
        "cpufreq": cores,
        "android": android(unavailable),
        "versions": runtime_versions(unavailable),
    }
    verdict = emulation(machine, cpuinfo)
    facts["emulated"], facts["emulation_evidence"] = verdict["emulated"], verdict["evidence"]
    if cpuinfo is None:
        unavailable["cpu_model"] = cpuinfo_reason
    if facts["cores"] is None:
        unavailable["cores"] = "os.cpu_count() could not tell"
    facts["unavailable"] = unavailable
    return facts
