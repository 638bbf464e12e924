"""What one task gives back, whatever ran it: its name, its value or its error, the node it ran on."""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

from edgebench.errors import EdgebenchError, WriteError
from edgebench.fileio import raise_if_write_error

# A task whose worker (process or node) dies is started again this many times, then reported as failed.
MAX_RETRIES = 3


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """One finished task. `error` is one line (the task's own exception, or its worker lost too often) and is
    None on success; `detail` holds the traceback of an unexpected exception; `node` says where it ran."""

    name: str
    index: int  # position in the items given to map()
    value: Any = None
    error: Optional[str] = None
    detail: Optional[str] = None
    node: str = "here"
    seconds: float = 0.0  # the task's own run time on its worker
    attempts: int = 1
    write_failed: bool = False  # the task could not write its output (a full disk): every later task would fail too

    @property
    def ok(self) -> bool:
        return self.error is None


def one_line(exc: BaseException) -> str:
    """An exception as one line: a user error's message as it is, anything else prefixed with its type."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else ""
    if isinstance(exc, EdgebenchError):
        return message or type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def host_node() -> str:
    """Where a worker process runs: host name and process id."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def call_task(fn: Callable[..., Any], spec: Any) -> Tuple[Any, Optional[str], Optional[str], float, bool]:
    """Run one task: (value, error line, traceback, seconds, whether a write failed). A task's exception is its
    result, never retried; KeyboardInterrupt and the like (BaseException) pass through and cancel the run."""
    started = time.perf_counter()
    try:
        value = fn(spec)
    except Exception as exc:  # any exception of the task is that task's failure, reported and not retried
        try:
            raise_if_write_error(exc)  # a full disk, said as such (a converter may have wrapped it)
        except WriteError as write:
            return None, str(write), None, time.perf_counter() - started, True
        detail = None if isinstance(exc, EdgebenchError) else traceback.format_exc()
        return None, one_line(exc), detail, time.perf_counter() - started, False
    return value, None, None, time.perf_counter() - started, False


def stop_on_write_failure(outcome: Outcome) -> Outcome:
    """The outcome, or its WriteError raised: a caller that lets one task fail and goes on stops on a full disk."""
    if outcome.write_failed:
        raise WriteError(outcome.error)
    return outcome


def task_names(items: Sequence[Any], names: Optional[Sequence[str]]) -> List[str]:
    if names is None:
        return [f"task {number}" for number in range(1, len(items) + 1)]
    names = [str(name) for name in names]
    if len(names) != len(items):
        raise ValueError(f"{len(names)} names for {len(items)} items")
    return names
