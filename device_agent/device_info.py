"""Facts about the device: what it is, how fast its cores run, how hot it is, whether it throttles."""

from __future__ import annotations

import glob
import os
import platform
import shutil
import socket
import subprocess
import sys
from typing import Dict, List, Optional


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace").strip("\x00\n ")
    except OSError:
        return None


def _command(*args: str, timeout: float = 3.0) -> Optional[str]:
    if shutil.which(args[0]) is None:
        return None
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model", "cpu model", "Processor"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpufreq() -> List[Dict]:
    cores = []
    for folder in sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq"),
                         key=lambda p: int(p.split("/cpu")[-1].split("/")[0])):
        cur, top = _read(f"{folder}/scaling_cur_freq"), _read(f"{folder}/cpuinfo_max_freq")
        cores.append({"cpu": int(folder.split("/cpu")[-1].split("/")[0]),
                      "cur_mhz": int(cur) // 1000 if cur and cur.isdigit() else None,
                      "max_mhz": int(top) // 1000 if top and top.isdigit() else None,
                      "governor": _read(f"{folder}/scaling_governor")})
    return cores


def temperatures() -> Dict[str, float]:
    temps = {}
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        raw = _read(f"{zone}/temp")
        if raw and raw.lstrip("-").isdigit():
            name = _read(f"{zone}/type") or os.path.basename(zone)
            temps[f"{os.path.basename(zone)}:{name}"] = round(int(raw) / 1000.0, 1)
    return temps


def throttled() -> Optional[Dict]:
    """Raspberry Pi firmware flags (`vcgencmd get_throttled`): bit 0-3 now, bit 16-19 since boot."""
    out = _command("vcgencmd", "get_throttled")
    if not out or "=" not in out:
        return None
    value = int(out.split("=")[1], 16)
    return {"raw": hex(value), "under_voltage": bool(value & 0x1), "freq_capped": bool(value & 0x2),
            "throttled_now": bool(value & 0x4), "soft_temp_limit": bool(value & 0x8),
            "throttled_since_boot": bool(value & 0x40000), "any": value != 0}


def android() -> Optional[Dict]:
    if "ANDROID_ROOT" not in os.environ and "com.termux" not in sys.prefix:
        return None
    props = {}
    for key in ("ro.product.manufacturer", "ro.product.model", "ro.build.version.release", "ro.soc.model",
                "ro.board.platform", "ro.product.cpu.abi"):
        value = _command("getprop", key)
        if value:
            props[key] = value
    return props or None


def _versions() -> Dict[str, Optional[str]]:
    versions: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for module in ("numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime", "psutil"):
        try:
            versions[module] = getattr(__import__(module), "__version__", "?")
        except ImportError:
            versions[module] = None
    return versions


def _memory_total_mb() -> Optional[int]:
    text = _read("/proc/meminfo") or ""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def device_facts(name: Optional[str] = None) -> Dict:
    return {
        "name": name or socket.gethostname(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "os": (_read("/etc/os-release") or "").split("PRETTY_NAME=")[-1].split("\n")[0].strip('"') or None,
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_mb": _memory_total_mb(),
        "board": _read("/proc/device-tree/model"),
        "cpufreq": cpufreq(),
        "android": android(),
        "versions": _versions(),
    }
