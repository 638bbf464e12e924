"""The device's attainable GMAC/s per format and precision, measured once per run on the bundle's probe
artifacts (one large 3x3 convolution in fp32 and int8 per format; see edgebench/export/probes.py).

The probes of one format are timed in a child process (`python -m device_agent.probes THREADS RUNS SECONDS
FILE FORMAT ...`, one JSON line per probe), so a probe the runtime refuses, or one that crashes it, costs only its
own entry (recorded with the reason; the probes after it get a fresh child), never the run. They are timed with
the run's own minimum runs and seconds (at most 20 runs and 0.5 s); `gmacs` is the probe's MACs over its
fastest run (the attainable rate), `p50_ms` is kept beside it.
Stdlib and numpy only; Python 3.9."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

from device_agent.backends.base import backend_for
from device_agent.stats import median

WARMUP_RUNS = 2
MAX_RUNS = 20  # a probe is one large op: its p50 settles within a few runs
MAX_SECONDS = 0.5
TIMEOUT_SECONDS = 120.0


def time_probe(path: str, fmt: str, threads: int, min_runs: int = 10, min_seconds: float = 0.5) -> Dict:
    """p50 and min of the probe's invoke at `threads` (run inside the child)."""
    backend = backend_for(fmt)
    backend.load(path, threads)
    shape = [d if d > 0 else 1 for d in backend.input_shape()]
    prepared = backend.prepare(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    for _ in range(WARMUP_RUNS):
        backend.invoke(prepared)
    samples: List[float] = []
    started = time.perf_counter()
    runs, seconds = max(3, min(min_runs, MAX_RUNS)), min(min_seconds, MAX_SECONDS)
    while len(samples) < runs or time.perf_counter() - started < seconds:
        tick = time.perf_counter()
        backend.invoke(prepared)
        samples.append((time.perf_counter() - tick) * 1000.0)
    backend.close()
    return {"p50_ms": median(samples), "min_ms": float(np.min(samples)), "runs": len(samples)}


def _problem(path: str, entry: Dict) -> Optional[str]:
    if entry.get("error"):
        return f"not built on the host: {entry['error']}"
    if not os.path.isfile(path):
        return f"{entry.get('file')} is missing from the bundle"
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if entry.get("sha256") and digest.hexdigest() != entry["sha256"]:
        return f"{entry.get('file')} does not match its checksum"
    return None


def _record(entry: Dict, threads: int) -> Dict:
    return {"name": entry["name"], "format": entry["format"], "precision": entry["precision"],
            "macs": entry.get("macs"), "threads": threads}


def _child(jobs: List[Dict], threads: int, min_runs: int, min_seconds: float) -> Tuple[List[Dict], str]:
    """Time `jobs` ({"path", "format"}) in one child process, one JSON line each as it finishes; what it
    printed, and why it stopped early (empty when it did not)."""
    command = [sys.executable, "-m", "device_agent.probes", str(threads), str(min_runs), str(min_seconds)]
    command += [item for job in jobs for item in (job["path"], job["format"])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return [json.loads(line) for line in output.splitlines() if line.startswith("{")], \
            f"no answer within {TIMEOUT_SECONDS:g} s"
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or len(answers) < len(jobs):
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
        return answers, f"the runtime refused or crashed (exit {done.returncode}): {tail}"
    return answers, ""


def measure_format(bundle_path: str, entries: List[Dict], threads: int, min_runs: int = 10,
                   min_seconds: float = 0.5) -> List[Dict]:
    """The probes of one format, in one child (one runtime import); a probe that stops the child costs its own
    entry: the ones after it are timed again in a fresh child."""
    records = [_record(entry, threads) for entry in entries]
    pending = []
    for entry, record in zip(entries, records):
        path = os.path.join(bundle_path, entry.get("file") or "")
        problem = _problem(path, entry)
        if problem:
            record["error"] = problem
        else:
            pending.append((record, {"path": path, "format": entry["format"]}))
    while pending:
        answers, stopped = _child([job for _, job in pending], threads, min_runs, min_seconds)
        for (record, _), answer in zip(pending, answers):
            record.update(answer)
            if record.get("macs") and record["min_ms"] > 0:
                # Attainable: the fastest run. One large op has next to no variance of its own; on a shared
                # machine the slower runs measure the neighbours (seen here: min 3.1 ms, p50 96 ms at load 30).
                record["gmacs"] = round(record["macs"] / (record["min_ms"] / 1000.0) / 1e9, 3)
        pending = pending[len(answers):]
        if stopped and pending:
            pending[0][0]["error"] = stopped
            pending = pending[1:]
    return records


def measure_probe(bundle_path: str, entry: Dict, threads: int) -> Dict:
    """One probe's record: GMAC/s where it ran, else the reason it did not."""
    return measure_format(bundle_path, [entry], threads)[0]


def measure_probes(bundle_path: str, manifest: Dict, threads: int, formats: Optional[List[str]] = None,
                   log=lambda line: None, min_runs: int = 10, min_seconds: float = 0.5) -> List[Dict]:
    """Every probe of the bundle (of `formats` where given) at `threads`: [] for a bundle without probes."""
    by_format: Dict[str, List[Dict]] = {}
    for entry in manifest.get("probes") or []:
        if formats is None or entry.get("format") in formats:
            by_format.setdefault(entry.get("format"), []).append(entry)
    records = []
    for fmt, entries in by_format.items():
        records += measure_format(bundle_path, entries, threads, min_runs, min_seconds)
    for record in records:
        shown = f"{record['gmacs']:.1f} GMAC/s" if "gmacs" in record else f"unavailable: {record['error']}"
        log(f"probe {record['name']} ({threads} thread{'s' if threads != 1 else ''}): {shown}")
    return records


def main(argv: List[str]) -> int:
    threads, min_runs, min_seconds = int(argv[0]), int(argv[1]), float(argv[2])
    rest = argv[3:]
    for path, fmt in zip(rest[0::2], rest[1::2]):
        print(json.dumps(time_probe(path, fmt, threads, min_runs, min_seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
