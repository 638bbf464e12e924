"""The device agent run on this machine, in its own process as on a device: the one place the host starts it."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

# The agent's folder: what is copied to a device, and what a local run imports.
AGENT_SOURCE = Path(__file__).resolve().parents[2] / "device_agent"


@dataclass(frozen=True, kw_only=True)
class AgentRun:
    code: int
    said: Tuple[str, ...]  # its stderr lines: progress, warnings, the one-line error
    stdout: str  # the result's path, or the whole result where it could not be written

    @property
    def last_line(self) -> str:
        return next((line.strip() for line in reversed(self.said) if line.strip()), f"exit {self.code}")


def agent_command(bundle: str, out: str, args: Sequence[str] = (), python: str = sys.executable) -> List[str]:
    """The agent's command line, the one way the host and the benchmarks start it: `PYTHON -m device_agent run
    BUNDLE --out OUT ARGS` (paths as the machine that runs it sees them)."""
    return [python, "-m", "device_agent", "run", str(bundle), "--out", str(out), *args]


def run_agent_here(bundle: Path, out: Path, args: Sequence[str] = (),
                   log: Optional[Callable[[str], None]] = None) -> AgentRun:
    """`python -m device_agent run BUNDLE --out OUT ARGS`; its progress goes to `log` as it comes."""
    command = agent_command(str(Path(bundle).absolute()), str(out), args)
    said = []
    # stdout to a file: a result printed whole (full disk) must not block on a pipe nobody reads yet
    with tempfile.TemporaryFile("w+") as stdout:
        process = subprocess.Popen(command, cwd=AGENT_SOURCE.parent, stdout=stdout, stderr=subprocess.PIPE,
                                   text=True)
        assert process.stderr is not None
        for line in process.stderr:
            said.append(line.rstrip("\n"))
            if log is not None:
                log(f"  {said[-1]}")
        code = process.wait()
        stdout.seek(0)
        return AgentRun(code=code, said=tuple(said), stdout=stdout.read())
