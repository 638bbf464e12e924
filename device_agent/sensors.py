"""The CPU's state while a model runs: hottest CPU temperature, current and top frequency, firmware throttling.

Read once a second during a sustained run, so it is cheap (a few small /sys files; where the Raspberry Pi
kernel has no sysfs copy of the throttle word, `vcgencmd`, found once) and never raises: what this device does
not tell is None. `root` is where /sys lives ("/" on the device; a folder laid out as /sys in tests).
"""

from __future__ import annotations

import functools
import re
import time
from typing import Dict, Optional, Tuple

from device_agent.device_info import cpufreq, read_throttled, temperatures, throttle_source

# Thermal zone types that measure the CPU (Raspberry Pi "cpu-thermal", x86 "x86_pkg_temp", Android SoCs'
# "cpu0-thermal", "soc_thermal", "cpuss-0", "mtktscpu"...); board, battery and skin sensors do not.
CPU_ZONE = re.compile(r"cpu|soc|x86_pkg|pkg_temp|package|core|cluster|apu|tsens", re.IGNORECASE)
COOLDOWN_LIMIT_S = 600.0


@functools.lru_cache(maxsize=8)
def _throttle_source(root: str) -> Optional[Tuple[str, str]]:
    """Probed once per root: looking for vcgencmd on PATH every second would cost more than reading it."""
    return throttle_source(root)


def cpu_temperature(zones: Dict[str, float]) -> Optional[float]:
    """The hottest CPU zone; the hottest zone of all when none is named as the CPU's."""
    cpu = [value for key, value in zones.items() if CPU_ZONE.search(key.partition(":")[2])]
    chosen = cpu or list(zones.values())
    return max(chosen) if chosen else None


def cpu_state(root: str = "/") -> Dict:
    """{"temperature_c", "frequency_mhz" (mean current over CPUs), "max_frequency_mhz", "throttled" (the
    firmware's "now" bits), "throttled_raw", "throttle_flags"}; each None where the device does not tell."""
    try:
        temperature = cpu_temperature(temperatures(root))
    except Exception:  # a sensor must never stop a measurement
        temperature = None
    try:
        cores = cpufreq(root)
    except Exception:
        cores = []
    current = [core["cur_mhz"] for core in cores if core["cur_mhz"]]
    top = [core["max_mhz"] for core in cores if core["max_mhz"]]
    try:
        flags = read_throttled(_throttle_source(root))
    except Exception:
        flags = None
    return {"temperature_c": temperature,
            "frequency_mhz": round(sum(current) / len(current), 1) if current else None,
            "max_frequency_mhz": float(max(top)) if top else None,
            "throttled": flags["now"] if flags else None,
            "throttled_raw": flags["raw"] if flags else None,
            "throttle_flags": {key: value for key, value in flags.items() if key not in ("raw", "now", "any")}
            if flags else None}


def throttle_reason(flags: Optional[Dict]) -> str:
    """The firmware's current conditions in words, e.g. "throttled, soft temperature limit"."""
    words = {"under_voltage": "under-voltage", "freq_capped": "frequency capped", "throttled_now": "throttled",
             "soft_temp_limit": "soft temperature limit"}
    said = [text for key, text in words.items() if flags and flags.get(key)]
    return ", ".join(said) or "throttled"


def wait_for_temperature(target_c: float, timeout_s: float = COOLDOWN_LIMIT_S, root: str = "/",
                         poll_s: float = 1.0) -> Dict:
    """Sleep until the hottest CPU zone is at or below `target_c`, at most `timeout_s` (bounded by 600 s).
    {"target_c", "reached": bool|None (None: no temperature to read), "waited_s", "start_c", "end_c", "reason"}."""
    limit = min(max(0.0, float(timeout_s)), COOLDOWN_LIMIT_S)
    started = time.monotonic()
    start_c = cpu_state(root)["temperature_c"]
    current = start_c
    if start_c is None:
        return {"target_c": target_c, "reached": None, "waited_s": 0.0, "start_c": None, "end_c": None,
                "reason": "no CPU temperature can be read on this device (no /sys/class/thermal zone): did not wait"}
    while current is not None and current > target_c and time.monotonic() - started < limit:
        time.sleep(min(poll_s, max(0.0, limit - (time.monotonic() - started))))
        current = cpu_state(root)["temperature_c"]
    waited = round(time.monotonic() - started, 2)
    reached = current is not None and current <= target_c
    if reached:
        reason = f"{current:.1f} C <= {target_c:g} C after {waited:.1f} s"
    elif current is None:
        reason = f"the CPU temperature could no longer be read after {waited:.1f} s"
    else:
        reason = f"still {current:.1f} C > {target_c:g} C after the {limit:g} s limit"
    return {"target_c": target_c, "reached": reached, "waited_s": waited, "start_c": start_c, "end_c": current,
            "reason": reason}
