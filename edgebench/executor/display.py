"""One progress display across the tasks of a map(): done, running, where each ran, time left."""

from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator, Optional

from edgebench.executor.outcome import Outcome


def follow(outcomes: Iterable[Outcome], *, total: int, slots: int, note: Optional[Callable[[str], None]] = None,
           what: str = "task") -> Iterator[Outcome]:
    """Pass the outcomes through, giving `note` (e.g. edgebench.progress.Progress.note) one line per finished
    task: '[2/4] variant v3 done on 10.0.0.5 node 1a2b3c4d in 41.0 s; 2 running; about 1.0 min left'."""
    started = time.perf_counter()
    done = 0
    for outcome in outcomes:
        done += 1
        if note is not None:
            note(status_line(outcome, done=done, total=total, slots=slots,
                                      elapsed=time.perf_counter() - started, what=what))
        yield outcome


def status_line(outcome: Outcome, *, done: int, total: int, slots: int, elapsed: float, what: str = "task") -> str:
    verdict = "done" if outcome.ok else f"FAILED ({outcome.error})"
    retried = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
    running = min(max(slots, 1), total - done)
    line = (f"[{done}/{total}] {what} {outcome.name} {verdict} on {outcome.node} in {_duration(outcome.seconds)}"
            f"{retried}; {running} running")
    left = remaining_seconds(done=done, total=total, elapsed=elapsed)
    return line + (f"; about {_duration(left)} left" if left is not None else "")


def remaining_seconds(*, done: int, total: int, elapsed: float) -> Optional[float]:
    """At the pace so far (finished tasks per wall second, which already counts the parallel slots)."""
    if done <= 0 or done >= total:
        return None
    return elapsed / done * (total - done)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
