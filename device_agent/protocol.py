"""The harness owns the clock: warm-up bounded by runs and seconds, then a timed loop that runs until both a
minimum count and a minimum duration are met, capped by a maximum duration (as in TFLite's benchmark tool
and MLPerf's loadgen)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, List

import numpy as np

from device_agent.errors import UsageError
from device_agent.stats import percentiles


@dataclass(frozen=True)
class TimingSettings:
    warmup_runs: int = 10
    warmup_seconds: float = 1.0
    min_runs: int = 50
    min_seconds: float = 2.0
    max_seconds: float = 60.0

    def check(self) -> None:
        """Raise UsageError naming the option that is out of range (NaN and infinity included)."""
        for flag, value, least in (("--warmup-runs", self.warmup_runs, 0), ("--min-runs", self.min_runs, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise UsageError(f"{flag} {value} is out of range: give a whole number of at least {least}")
        for flag, value in (("--warmup-seconds", self.warmup_seconds), ("--min-seconds", self.min_seconds),
                            ("--max-seconds", self.max_seconds)):
            if not math.isfinite(value) or value < 0 or (flag == "--max-seconds" and value == 0):
                valid = "more than 0" if flag == "--max-seconds" else "0 or more"
                raise UsageError(f"{flag} {value} is out of range: give a finite number of seconds, {valid}")
        if self.min_seconds > self.max_seconds:
            raise UsageError(f"--min-seconds {self.min_seconds:g} is more than --max-seconds {self.max_seconds:g}: "
                             "raise --max-seconds or lower --min-seconds")


def warm_up(invoke: Callable[[], object], settings: TimingSettings) -> dict:
    """Run at least `warmup_runs` times and stop once `warmup_seconds` have also passed (or the runs are 0)."""
    started = time.perf_counter_ns()
    runs = 0
    while runs < settings.warmup_runs or (runs > 0 and
                                           time.perf_counter_ns() - started < settings.warmup_seconds * 1e9):
        invoke()
        runs += 1
        if time.perf_counter_ns() - started > settings.max_seconds * 1e9:
            break
    return {"runs": runs, "seconds": round((time.perf_counter_ns() - started) / 1e9, 4)}


def timed_loop(invoke: Callable[[], object], settings: TimingSettings) -> List[int]:
    """Per-iteration latencies in nanoseconds."""
    samples: List[int] = []
    clock = time.perf_counter_ns
    min_ns, max_ns = settings.min_seconds * 1e9, settings.max_seconds * 1e9
    started = clock()
    while True:
        tick = clock()
        invoke()
        tock = clock()
        samples.append(tock - tick)
        elapsed = tock - started
        if (len(samples) >= settings.min_runs and elapsed >= min_ns) or elapsed >= max_ns:
            return samples


def summarize(samples_ns: List[int]) -> dict:
    """n, mean, std, min, p50, p90, p95, p99, max (ms) and the coefficient of variation."""
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    mean = float(ms.mean())
    p50, p90, p95, p99 = percentiles(ms, [50, 90, 95, 99])
    std = float(ms.std(ddof=1)) if len(ms) > 1 else 0.0
    return {"n": int(len(ms)), "mean": round(mean, 5), "std": round(std, 5), "min": round(float(ms.min()), 5),
            "p50": round(p50, 5), "p90": round(p90, 5), "p95": round(p95, 5), "p99": round(p99, 5),
            "max": round(float(ms.max()), 5), "cv": round(std / mean, 5) if mean > 0 else 0.0}
