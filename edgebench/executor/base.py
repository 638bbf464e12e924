"""The executor interface: a context manager whose map() runs a function of one spec per item and yields
one Outcome per item as each finishes. It knows nothing of what a task does."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from edgebench.executor.outcome import Outcome


class Executor:
    """`fn` is a picklable top-level function taking one spec (a keyword-only dataclass) and returning a
    picklable result. `cpus`/`gpus` are what one task needs; executors that cannot place them ignore them."""

    name = "executor"

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    @property
    def slots(self) -> int:
        """How many tasks of one CPU can run at once."""
        return 1

    def describe(self) -> str:
        return self.name

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, names: Optional[Sequence[str]] = None,
            cpus: float = 1, gpus: float = 0) -> Iterator[Outcome]:
        raise NotImplementedError
