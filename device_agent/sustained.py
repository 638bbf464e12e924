"""Inference without pause for a set time, recorded once per interval: does the device keep its burst speed?

Each interval records the latency p50/p90 of its runs and the CPU's temperature, frequency and firmware throttle
flags. The burst p50 (the first 10 s or the first 10 % of intervals, whichever is shorter) is compared with the
sustained p50 (the last half), and the series is searched for the moment throttling began.
"""

from __future__ import annotations

import time
from array import array
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from device_agent.device_info import parse_throttled
from device_agent.sensors import cpu_state, throttle_reason
from device_agent.stats import median, percentiles

BURST_SECONDS = 10.0
BURST_FRACTION = 0.10
SUSTAINED_FRACTION = 0.50
FREQUENCY_FLOOR = 0.95  # below 95 % of the burst's highest frequency counts as throttled
LATENCY_RISE = 1.10  # p50 10 % above the burst p50 ...
LATENCY_RISE_INTERVALS = 3  # ... for 3 intervals in a row


def burst_count(intervals: int, interval: float) -> int:
    return max(1, min(int(BURST_SECONDS / interval + 1e-9), int(intervals * BURST_FRACTION)))


def sustained_start(intervals: int) -> int:
    return min(intervals - 1, int(intervals * (1 - SUSTAINED_FRACTION)))


def throttle_onset(series: Sequence[Dict], burst_p50_ms: float,
                   burst_intervals: int) -> Tuple[Optional[float], Optional[str], Optional[str]]:
    """The first t at which the firmware said throttled, the frequency fell below 95 % of the burst's highest,
    or the p50 stayed 10 % above the burst p50 for 3 intervals in a row (t of the first of them); why, in
    words; and which signal said so ("firmware", "frequency" or "latency")."""
    burst_frequencies = [s["frequency_mhz"] for s in series[:burst_intervals] if s.get("frequency_mhz")]
    start_max = max(burst_frequencies) if burst_frequencies else None
    rising = 0
    for index, entry in enumerate(series):
        if entry.get("throttled"):
            raw = f" ({entry['throttled_raw']})" if entry.get("throttled_raw") else ""
            flags = parse_throttled(entry["throttled_raw"]) if entry.get("throttled_raw") else None
            return entry["t"], f"firmware reports {throttle_reason(flags)}{raw}", "firmware"
        frequency = entry.get("frequency_mhz")
        if start_max and frequency and frequency < FREQUENCY_FLOOR * start_max:
            return entry["t"], (f"CPU frequency {frequency:.0f} MHz is below {100 * FREQUENCY_FLOOR:.0f} % of the "
                                f"start's {start_max:.0f} MHz"), "frequency"
        p50 = entry.get("p50_ms")
        rising = rising + 1 if p50 is not None and p50 > LATENCY_RISE * burst_p50_ms else 0
        if rising == LATENCY_RISE_INTERVALS:
            first = series[index - LATENCY_RISE_INTERVALS + 1]
            return first["t"], (f"p50 {first['p50_ms']:.3g} ms and the {LATENCY_RISE_INTERVALS - 1} intervals after "
                                f"it are over {100 * (LATENCY_RISE - 1):.0f} % above the burst p50 "
                                f"{burst_p50_ms:.3g} ms"), "latency"
    return None, None, None


def frequency_drop(series: Sequence[Dict], burst_intervals: int) -> Optional[float]:
    """How far the frequency fell below the burst's highest (0.08 = 8 %); None without cpufreq."""
    burst = [s["frequency_mhz"] for s in series[:burst_intervals] if s.get("frequency_mhz")]
    every = [s["frequency_mhz"] for s in series if s.get("frequency_mhz")]
    if not burst or not every:
        return None
    return round(max(0.0, 1.0 - min(every) / max(burst)), 4)


def analyze(series: Sequence[Dict], samples_ns: Sequence[int], bounds: Sequence[int], interval: float) -> Dict:
    """Burst and sustained p50 (over the pooled samples of their intervals), slowdown and throttle onset.
    `bounds[i]:bounds[i + 1]` are interval i's samples."""
    count = len(series)
    burst = burst_count(count, interval)
    tail = sustained_start(count)
    samples = np.frombuffer(samples_ns, dtype=np.int64) if isinstance(samples_ns, array) else np.asarray(samples_ns)
    burst_p50 = median(samples[:bounds[burst]]) / 1e6
    sustained_p50 = median(samples[bounds[tail]:bounds[count]]) / 1e6
    onset, reason, signal = throttle_onset(series, burst_p50, burst)
    flags = [s["throttled"] for s in series if s.get("throttled") is not None]
    return {"burst_p50_ms": round(burst_p50, 5), "burst_seconds": series[burst - 1]["t"],
            "sustained_p50_ms": round(sustained_p50, 5), "sustained_from_s": series[tail - 1]["t"] if tail else 0.0,
            "slowdown": round(sustained_p50 / burst_p50, 4) if burst_p50 > 0 else None,
            "throttle_onset_s": onset, "throttle_reason": reason, "throttle_signal": signal,
            "throttled": any(flags) if flags else None, "frequency_drop": frequency_drop(series, burst)}


def _interval_entry(t: float, samples_ns: Sequence[int], root: str) -> Dict:
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    p50, p90 = percentiles(ms, [50, 90])
    state = cpu_state(root)
    return {"t": round(t, 3), "n": len(ms), "p50_ms": round(float(p50), 5), "p90_ms": round(float(p90), 5),
            "temperature_c": state["temperature_c"], "frequency_mhz": state["frequency_mhz"],
            "throttled": state["throttled"], "throttled_raw": state["throttled_raw"]}


def run_sustained(invoke: Callable[[], object], seconds: float, interval: float = 1.0, root: str = "/") -> Dict:
    """Run `invoke` without pause for `seconds`; once per `interval` record the latency and the CPU's state.
    The sensors are read between runs, outside the clock of any run."""
    if not seconds > 0 or not interval > 0:
        raise ValueError(f"seconds {seconds} and interval {interval} must both be more than 0")
    start_state = cpu_state(root)
    clock = time.perf_counter_ns
    samples = array("q")
    bounds: List[int] = [0]
    series: List[Dict] = []
    started = clock()
    interval_ns, total_ns = int(interval * 1e9), int(seconds * 1e9)
    boundary = started + interval_ns
    while True:
        tick = clock()
        invoke()
        tock = clock()
        samples.append(tock - tick)
        finished = tock - started >= total_ns
        if tock >= boundary or finished:
            series.append(_interval_entry((tock - started) / 1e9, samples[bounds[-1]:], root))
            bounds.append(len(samples))
            while boundary <= tock:  # a run longer than the interval closes one interval, not several
                boundary += interval_ns
            if finished:
                break
    result = {"seconds": round((clock() - started) / 1e9, 3), "interval": interval, "runs": len(samples),
              "start": start_state, "series": series}
    result.update(analyze(series, samples, bounds, interval))
    return result
