"""Shared helpers for the benchmark scripts: timing subprocesses, printing tables."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHARED = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT))
from edgebench.devices.local import agent_command  # noqa: E402  (the host's one agent command line)
from edgebench.export.manifest import read_manifest  # noqa: E402,F401  (the one manifest reader)
from edgebench.report.load import read_result  # noqa: E402  (the one result reader)


def run_agent(bundle: Path, out: Path, args: Sequence[str] = (), **popen) -> dict:
    """`device_agent run BUNDLE --out OUT ARGS` on this machine, quietly; its result, read and checked."""
    subprocess.run(agent_command(str(bundle), str(out), args), check=True, cwd=popen.pop("cwd", ROOT),
                   stdout=subprocess.DEVNULL, **popen)
    return read_result(out)


def env() -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "TF_CPP_MIN_LOG_LEVEL": "3"}


def timed(command: Sequence[str], cwd: Optional[Path] = None, wait_for: Optional[Path] = None,
          log: Optional[Path] = None) -> float:
    """Wall seconds of a command; with `wait_for`, seconds until that file exists (then the command is stopped)."""
    started = time.perf_counter()
    with open(log or os.devnull, "w") as sink:
        process = subprocess.Popen(list(command), cwd=cwd, env=env(), stdout=sink, stderr=subprocess.STDOUT)
        if wait_for is None:
            if process.wait() != 0:
                raise SystemExit(f"failed: {' '.join(command)} (log: {log})")
            return time.perf_counter() - started
        while not (wait_for.exists() and wait_for.stat().st_size > 0):
            if process.poll() is not None:
                raise SystemExit(f"{' '.join(command)} ended without writing {wait_for} (log: {log})")
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        process.kill()
        process.wait()
        return elapsed


def table(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    return "\n".join(lines)
