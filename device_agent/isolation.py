"""Work that may crash natively (a runtime loading a model, a runtime's import) runs in a fresh interpreter,
`python -m device_agent _child`, so a SIGSEGV or SIGABRT costs that piece of work, not the whole run.

The request goes in as JSON on the child's stdin; the answer comes back as JSON on its original stdout, which
the child keeps for itself (whatever a runtime prints goes to stderr instead). The timed loop runs entirely
inside the child, so isolation adds nothing to what is measured.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any, Callable, Dict, Optional

from device_agent.errors import AgentError

CHILD_COMMAND = "_child"
EXIT_CHILD_INTERRUPTED = 130


class ChildFailed(AgentError):
    """The child ended without an answer: killed by a signal, a non-zero exit, or too slow. (An error the
    child reports in its answer is a plain AgentError.)"""


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


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def call(request: Dict[str, Any], timeout: Optional[float] = None, quiet: bool = False) -> Dict[str, Any]:
    """The child's answer to `request`; ChildFailed if it crashed, exited without one, or passed `timeout`.
    An interruption of this process stops the child too."""
    process = subprocess.Popen([sys.executable, "-m", "device_agent", CHILD_COMMAND], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if quiet else None,
                               env=_environment())
    try:
        answer, _ = process.communicate(json.dumps(request, allow_nan=False).encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise ChildFailed(f"gave no answer within {timeout:g} s (stopped)") from None
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


def _handlers() -> Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]]:
    from device_agent.device_info import probe_version
    from device_agent.runner import measure_request

    return {"measure": measure_request, "version": probe_version}


def child_main() -> int:
    """Entry point of `python -m device_agent _child`: answer one request read from stdin."""
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # a runtime's own prints must not mix with the answer
    sys.stdout = sys.stderr
    try:
        request = json.load(sys.stdin)
        try:
            text = json.dumps(_handlers()[request["kind"]](request), allow_nan=False)
        except AgentError as exc:
            text = json.dumps({"failed": str(exc)})
        except Exception as exc:  # reported to the parent as one line, which records it for this artifact only
            text = json.dumps({"failed": f"{type(exc).__name__}: {exc}"})
    except KeyboardInterrupt:
        return EXIT_CHILD_INTERRUPTED
    with os.fdopen(answer_fd, "w", encoding="utf-8") as channel:
        channel.write(text)
    return 0
