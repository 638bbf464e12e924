"""A name registry: one per extension point (models, data readers, export formats)."""

from __future__ import annotations

import math
from typing import Callable, Dict, Generic, Iterator, TypeVar

from edgebench.errors import EdgebenchError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(entry: T) -> T:
            return self.add(name, entry)

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list:
        return sorted(self._entries)


def check_range(name: str, value: float, low: float, high: float, *, high_open: bool = False) -> float:
    """Raise a clear error when a numeric option is out of its valid range (NaN is never in range)."""
    above = value >= high if high_open else value > high
    if not math.isfinite(value) or value < low or above:
        bracket = ")" if high_open else "]"
        raise EdgebenchError(f"{name} {value} is out of range: valid values are in [{low}, {high}{bracket}")
    return value
