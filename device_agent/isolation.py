"""Work that may crash natively (a runtime loading a model, a runtime's import) runs in a fresh interpreter,
so a SIGSEGV or SIGABRT costs that piece of work, not the whole run.

Two kinds of child: `python -m device_agent _child` answers one JSON request (`call`, used for version
probes); `python -m device_agent _measure` is a `Child` that stays alive and answers JSON lines, one request
line on its stdin -> one answer line, so one configuration keeps its loaded model across interleaved rounds.
Either way the answer goes out on the child's original stdout, which the child keeps for itself (whatever a
runtime prints goes to stderr instead). Each child leads a process group of its own: a child that passes its
deadline (hung in a runtime, stopped by SIGSTOP) is killed with everything it started, by SIGKILL to the group. The timed loop runs entirely inside the child, so isolation adds
nothing to what is measured, and an idle child blocks on its stdin, so it takes nothing from the one at work.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any, Dict, Optional

from device_agent.errors import AgentError

CHILD_COMMAND = "_child"
SESSION_COMMAND = "_measure"
EXIT_CHILD_INTERRUPTED = 130


class ChildFailed(AgentError):
    """The child ended without an answer: killed by a signal, a non-zero exit, or too slow. (An error the
    child reports in its answer is a plain AgentError.)"""


class ChildTimedOut(ChildFailed):
    """The child gave no answer within its deadline; its process group has been killed."""

    def __init__(self, seconds: float):
        super().__init__(f"gave no answer within {seconds:g} s (stopped)")
        self.seconds = seconds


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by signal {name}"
    return f"exited with code {returncode} without an answer"


def _environment() -> Dict[str, str]:
    """This interpreter's environment, with the folder holding device_agent first on PYTHONPATH."""
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    """`signum` to the child's process group (it leads one), or to the child alone where there are none."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
    except (ProcessLookupError, PermissionError):  # the group is gone already
        pass


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to the child and everything it started (a stopped or hung process cannot ignore it)."""
    _signal_group(process, getattr(signal, "SIGKILL", signal.SIGTERM))
    process.wait()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_group(process)


def _spawn(command: str, quiet: bool) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "device_agent", command], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if quiet else None,
                            env=_environment(), start_new_session=hasattr(os, "setsid"))


def call(request: Dict[str, Any], timeout: Optional[float] = None, quiet: bool = False) -> Dict[str, Any]:
    """The child's answer to `request`; ChildFailed if it crashed, exited without one, or passed `timeout`.
    An interruption of this process stops the child too."""
    process = _spawn(CHILD_COMMAND, quiet)
    try:
        answer, _ = process.communicate(json.dumps(request, allow_nan=False).encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        raise ChildTimedOut(timeout) from None
    except BaseException:
        _stop(process)
        raise
    if process.returncode in (EXIT_CHILD_INTERRUPTED, -signal.SIGINT):
        raise KeyboardInterrupt
    if process.returncode != 0 or not answer:
        raise ChildFailed(describe_exit(process.returncode))
    try:
        document = json.loads(answer.decode("utf-8"))
    except ValueError:
        raise ChildFailed("answered with something that is not JSON") from None
    if "failed" in document:
        raise AgentError(document["failed"])
    return document


def _answer_of(text: bytes) -> Dict[str, Any]:
    try:
        document = json.loads(text.decode("utf-8"))
    except ValueError:
        raise ChildFailed("answered with something that is not JSON") from None
    if not isinstance(document, dict):
        raise ChildFailed("answered with something that is not a JSON object")
    if "failed" in document:
        raise AgentError(document["failed"])
    return document


class Child:
    """A long-lived `_measure` process. `request` sends one JSON line and returns the answer line as a dict;
    ChildFailed when the child dies or passes the timeout (it is stopped then), AgentError when it reports a
    failure of its own (it stays usable). An interruption of this process while waiting stops the child."""

    def __init__(self, quiet: bool = False):
        self._pending = b""
        self.started_ns = time.perf_counter_ns()  # before Popen: cold start counts the interpreter's start
        self.process = _spawn(SESSION_COMMAND, quiet)

    def request(self, message: Dict[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        try:
            self.process.stdin.write(json.dumps(message, allow_nan=False).encode("utf-8") + b"\n")
            self.process.stdin.flush()
        except OSError:  # the child is gone already
            failure = self._died()
            self.close()
            raise failure from None
        try:
            line = self._read_line(timeout)
            return _answer_of(line)
        except AgentError as exc:
            if isinstance(exc, ChildTimedOut):
                kill_group(self.process)
            if isinstance(exc, ChildFailed):
                self.close()
            raise
        except BaseException:  # an interruption while waiting: this child is finished too
            self.close()
            raise

    def _read_line(self, timeout: Optional[float]) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        descriptor = self.process.stdout.fileno()
        chunks = [self._pending]  # an answer of many samples spans many reads: joined once, at the end
        while b"\n" not in chunks[-1]:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([descriptor], [], [], wait)
            if not ready:
                raise ChildTimedOut(timeout)
            chunk = os.read(descriptor, 1 << 20)
            if not chunk:
                raise self._died()
            chunks.append(chunk)
        line, self._pending = b"".join(chunks).split(b"\n", 1)
        return line

    def _died(self) -> BaseException:
        try:
            returncode = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _stop(self.process)
            returncode = self.process.returncode
        if returncode in (EXIT_CHILD_INTERRUPTED, -signal.SIGINT):
            return KeyboardInterrupt()
        return ChildFailed(describe_exit(returncode))

    def close(self) -> None:
        """Ask the child to leave (closing its stdin is enough), then stop it if it does not."""
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                _stop(self.process)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
