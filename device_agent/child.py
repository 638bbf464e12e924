"""The child's side of isolation (`device_agent/isolation.py` is the parent's): `python -m device_agent _child`
answers one JSON request (a version probe), `python -m device_agent _measure` answers JSON lines for one
configuration until `close`. Answers go out on the child's original stdout, which it keeps for itself: whatever
a runtime prints goes to stderr instead."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Dict, TextIO

from device_agent.device_info import probe_version
from device_agent.errors import AgentError
from device_agent.isolation import EXIT_CHILD_INTERRUPTED
from device_agent.measure import Measurement


def _private_stdout() -> TextIO:
    """The original stdout, kept for the answers; file descriptor 1 and sys.stdout now go to stderr, so a
    runtime's own prints cannot mix with them."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def _answer(handler: Callable[[Dict[str, Any]], Dict[str, Any]], request: Dict[str, Any]) -> str:
    """The handler's answer as JSON; a failure as `{"failed": one line}`, which costs this request only."""
    try:
        return json.dumps(handler(request), allow_nan=False)
    except AgentError as exc:
        return json.dumps({"failed": str(exc)})
    except Exception as exc:  # reported to the parent as one line
        return json.dumps({"failed": f"{type(exc).__name__}: {exc}".splitlines()[0]})


def child_main() -> int:
    """Entry point of `python -m device_agent _child`: answer one request read from stdin."""
    handlers = {"version": probe_version}
    channel = _private_stdout()
    try:
        request = json.load(sys.stdin)
        text = _answer(lambda r: handlers[r["kind"]](r), request)
    except KeyboardInterrupt:
        return EXIT_CHILD_INTERRUPTED
    with channel:
        channel.write(text)
    return 0


def session_main() -> int:
    """Entry point of `python -m device_agent _measure`: answer request lines until `close` or end of input."""
    channel = _private_stdout()
    measurement = Measurement()
    try:
        for line in sys.stdin.buffer:
            request = json.loads(line.decode("utf-8"))
            text = _answer(measurement.handle, request)
            try:
                channel.write(text + "\n")
                channel.flush()
            except OSError:  # the parent has gone: nobody to answer
                return 0
            if request.get("cmd") == "close":
                break
    except KeyboardInterrupt:
        return EXIT_CHILD_INTERRUPTED
    finally:
        measurement.close()
    return 0
