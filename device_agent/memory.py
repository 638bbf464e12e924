"""Resident memory: current RSS and a per-artifact peak (Linux VmHWM, reset through /proc/self/clear_refs)."""

from __future__ import annotations

import os
import sys
from typing import Optional

_STATUS = "/proc/self/status"


def _status_kb(field: str) -> Optional[float]:
    try:
        with open(_STATUS) as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> Optional[float]:
    kb = _status_kb("VmRSS")
    if kb is not None:
        return round(kb / 1024, 2)
    try:
        import psutil

        return round(psutil.Process().memory_info().rss / 2**20, 2)
    except ImportError:
        return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark so the next reading is this artifact's own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb(reset_worked: bool) -> "tuple[Optional[float], str]":
    kb = _status_kb("VmHWM")
    if kb is not None:
        return round(kb / 1024, 2), "VmHWM" if reset_worked else "VmHWM (process lifetime)"
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (2**20 if sys.platform == "darwin" else 1024), 2), "ru_maxrss (process lifetime)"
    except (ImportError, OSError):
        return None, "unavailable"


def file_mb(path: str) -> float:
    return round(os.path.getsize(path) / 2**20, 4)
