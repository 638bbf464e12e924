"""The system's ssh and scp, so the user's ssh config, keys and agent apply; failures in one clear line."""

from __future__ import annotations

import shlex
import subprocess
from typing import Callable, List, Optional, Sequence

from edgebench.devices.spec import DeviceSpec
from edgebench.errors import EdgebenchError

SSH_ERROR = 255


class Remote:
    def __init__(self, device: DeviceSpec, connect_timeout: int = 10):
        self.device = device
        options = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}",
                   "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if device.identity:
            options += ["-i", device.identity]
        for option in device.ssh_options:
            options += ["-o", option]
        self.options = options

    def _ssh(self) -> List[str]:
        return ["ssh", *self.options, "-p", str(self.device.port), self.device.destination]

    def run(self, command: str, *, check: bool = True, input_text: Optional[str] = None,
            timeout: Optional[float] = 120) -> subprocess.CompletedProcess:
        try:
            done = subprocess.run([*self._ssh(), command], capture_output=True, text=True, input=input_text,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EdgebenchError(f"{self.device.name}: '{command[:60]}' did not finish in {timeout:.0f} s") from None
        if done.returncode == SSH_ERROR:
            raise self.explain(done.stderr)
        if check and done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise EdgebenchError(f"{self.device.name}: '{command[:60]}' failed: {last}")
        return done

    def stream(self, command: str, on_line: Callable[[str], None]) -> int:
        """Run with stderr shown line by line as it comes (the agent's progress); returns the exit code."""
        process = subprocess.Popen([*self._ssh(), command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        lines: List[str] = []
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            on_line(line.rstrip("\n"))
        process.wait()
        if process.returncode == SSH_ERROR and any(_is_ssh_message(line) for line in lines[-3:]):
            raise self.explain("".join(lines[-3:]))
        return process.returncode

    def copy_to(self, sources: Sequence[str], target: str) -> None:
        self._scp([*sources], f"{self.device.destination}:{target}")

    def copy_from(self, source: str, target: str) -> None:
        self._scp([f"{self.device.destination}:{source}"], target)

    def _scp(self, sources: Sequence[str], target: str) -> None:
        done = subprocess.run(["scp", "-q", "-p", *self.options, "-P", str(self.device.port), *sources, target],
                              capture_output=True, text=True)
        if done.returncode != 0:
            if _is_ssh_message(done.stderr):
                raise self.explain(done.stderr)
            raise EdgebenchError(f"{self.device.name}: copy failed: {(done.stderr.strip() or 'scp error')[:200]}")

    def explain(self, stderr: str) -> EdgebenchError:
        where = f"{self.device.destination}:{self.device.port}"
        text = stderr.strip()
        if "Permission denied" in text or "Too many authentication failures" in text:
            return EdgebenchError(f"authentication refused by {where}: check the key (identity) or your ssh-agent")
        if any(s in text for s in ("Connection refused", "timed out", "No route to host", "Could not resolve",
                                   "Name or service not known", "Network is unreachable")):
            return EdgebenchError(f"cannot reach {where}: {text.splitlines()[-1]}")
        if any(s in text for s in ("Connection closed", "Broken pipe", "Connection reset", "closed by remote")):
            return EdgebenchError(f"the connection to {where} dropped: {text.splitlines()[-1]}")
        return EdgebenchError(f"ssh to {where} failed: {(text.splitlines() or ['no message'])[-1]}")


def _is_ssh_message(text: str) -> bool:
    return any(s in text for s in ("ssh:", "Permission denied", "Connection", "Broken pipe", "port ", "lost connection",
                                   "kex_exchange", "Host key"))


def quote(path: str) -> str:
    return shlex.quote(path)
