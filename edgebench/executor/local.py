"""`local`: every task in this process, one after another, in order (today's behaviour)."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from edgebench.executor.base import Executor
from edgebench.executor.outcome import Outcome, call_task, task_names


class LocalExecutor(Executor):
    name = "local"

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, names: Optional[Sequence[str]] = None,
            cpus: float = 1, gpus: float = 0) -> Iterator[Outcome]:
        items = list(items)
        for index, name in enumerate(task_names(items, names)):
            value, error, detail, seconds, write_failed = call_task(fn, items[index])
            yield Outcome(name=name, index=index, value=value, error=error, detail=detail, seconds=seconds,
                          write_failed=write_failed)
