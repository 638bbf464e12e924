"""The agent's own checks that need no host package, run on the device side (here: an emulated arm64 root).

The host's tests/test_agent*.py build their bundles with edgebench and torch; this script checks the same
device-side behaviour on a bundle that is already there, with the standard library only:
`python agent_selfcheck.py BUNDLE WORKDIR` (the current directory must hold `device_agent/`).
Prints one line per check and exits 1 when any fails.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from typing import Callable, List, Tuple

FAST_TIMING = ("--warmup-runs", "1", "--warmup-seconds", "0", "--min-runs", "3", "--min-seconds", "0",
               "--no-accuracy")


def agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "device_agent", *args], capture_output=True, text=True,
                          timeout=900, check=False)


def no_traceback(done: subprocess.CompletedProcess) -> None:
    if "Traceback" in done.stderr:
        raise AssertionError(f"traceback on stderr: {done.stderr.strip().splitlines()[-1]}")


def check_environment(bundle: str, work: str) -> str:
    if os.geteuid() == 0:
        raise AssertionError("running as root: the agent must be checked as an unprivileged user")
    if os.path.exists("/sys/devices"):
        raise AssertionError("/sys is mounted: the check is meant to run without it")
    try:
        import psutil  # noqa: F401
    except ImportError:
        return f"uid {os.geteuid()}, {platform.machine()}, Python {platform.python_version()}, no /sys, no psutil"
    raise AssertionError("psutil is importable: the check is meant to run without it")


def check_info(bundle: str, work: str) -> str:
    done = agent("info")
    no_traceback(done)
    if done.returncode != 0:
        raise AssertionError(f"`info` exited {done.returncode}: {done.stderr.strip()[-300:]}")
    facts = json.loads(done.stdout)
    if facts.get("machine") != platform.machine():
        raise AssertionError(f"`info` says machine {facts.get('machine')!r}, platform says {platform.machine()!r}")
    return f"machine {facts['machine']}, cpu_model {facts.get('cpu_model')!r}, cores {facts.get('cores')}"


def check_missing_manifest(bundle: str, work: str) -> str:
    empty = os.path.join(work, "empty")
    os.makedirs(empty, exist_ok=True)
    out = os.path.join(work, "missing.json")
    done = agent("run", empty, "--out", out, *FAST_TIMING)
    no_traceback(done)
    if done.returncode != 1:
        raise AssertionError(f"exit {done.returncode}, expected 1")
    with open(out) as handle:
        error = json.load(handle)["error"]
    if "manifest.json is missing" not in error:
        raise AssertionError(f"result error {error!r} does not name the missing manifest.json")
    return f"exit 1, error {error!r}"


def check_corrupt_artifact(bundle: str, work: str) -> str:
    """A changed file costs only its own artifact; the others still run."""
    copy = os.path.join(work, "corrupt")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(bundle, copy)
    with open(os.path.join(copy, "manifest.json")) as handle:
        names = {a["file"]: a["name"] for a in json.load(handle)["artifacts"]}
    # Both TFLite: onnxruntime 1.19.2 aborts without /sys, which is not what this checks.
    victim, keeper = "model.fp32.tflite", "model.int8.tflite"
    with open(os.path.join(copy, victim), "r+b") as handle:
        handle.seek(-10, os.SEEK_END)
        byte = handle.read(1)
        handle.seek(-10, os.SEEK_END)
        handle.write(bytes([byte[0] ^ 0xFF]))
    out = os.path.join(work, "corrupt.json")
    done = agent("run", copy, "--out", out, "--artifacts", f"{names[keeper]},{names[victim]}", *FAST_TIMING)
    no_traceback(done)
    with open(out) as handle:
        runs = {run["artifact"]: run for run in json.load(handle)["runs"]}
    if done.returncode != 1:
        raise AssertionError(f"exit {done.returncode}, expected 1")
    if runs[names[keeper]]["error"] is not None:
        raise AssertionError(f"{names[keeper]} failed too: {runs[names[keeper]]['error']}")
    if "has sha256" not in (runs[names[victim]]["error"] or ""):
        raise AssertionError(f"{names[victim]} error {runs[names[victim]]['error']!r} does not name the checksum")
    return f"{names[victim]}: {runs[names[victim]]['error'][:60]}...; {names[keeper]} ran"


def check_null_backend(bundle: str, work: str) -> str:
    out = os.path.join(work, "null.json")
    done = agent("run", bundle, "--out", out, "--artifacts", "tflite-int8", "--backend", "null", "--samples",
                 *FAST_TIMING)
    no_traceback(done)
    if done.returncode != 0:
        raise AssertionError(f"exit {done.returncode}: {done.stderr.strip()[-300:]}")
    with open(out) as handle:
        (run,) = json.load(handle)["runs"]
    if run["backend"] != "null" or len(run["samples_ms"]) != run["latency_ms"]["n"]:
        raise AssertionError(f"backend {run['backend']}, {len(run['samples_ms'])} samples for n={run['latency_ms']['n']}")
    return f"harness p50 {run['latency_ms']['p50']:.4f} ms (emulated)"


CHECKS: List[Tuple[str, Callable[[str, str], str]]] = [
    ("environment", check_environment), ("info", check_info), ("missing manifest", check_missing_manifest),
    ("corrupt artifact", check_corrupt_artifact), ("null backend", check_null_backend),
]


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        print("usage: agent_selfcheck.py BUNDLE WORKDIR", file=sys.stderr)
        return 2
    bundle, work = argv
    os.makedirs(work, exist_ok=True)
    failed = 0
    for name, check in CHECKS:
        try:
            print(f"  ok    {name}: {check(bundle, work)}", flush=True)
        except (AssertionError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
            failed += 1
            print(f"  FAIL  {name}: {exc}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
