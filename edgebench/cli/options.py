"""Option types shared by every command: a bad value is refused by click (exit 2) with one line that names the
option, the value and what is valid, before any work starts."""

from __future__ import annotations

import math
from typing import Any, Optional

import click


class FiniteFloat(click.ParamType):
    """A float that is neither nan nor inf, optionally within [low, high] (or [low, high) with high_open)."""

    name = "float"

    def __init__(self, low: Optional[float] = None, high: Optional[float] = None, *, low_open: bool = False,
                 high_open: bool = False):
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def _range(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return "finite"

    def convert(self, value: Any, param, ctx) -> float:
        if isinstance(value, float) and math.isfinite(value):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"{_label(param)} {value!r} is not a number", param, ctx)
            if not math.isfinite(number):
                self.fail(f"{_label(param)} {value} is not a finite number", param, ctx)
        below = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        above = self.high is not None and (number >= self.high if self.high_open else number > self.high)
        if below or above:
            self.fail(f"{_label(param)} {value} is out of range: give a number {self._range()}", param, ctx)
        return number


class BoundedInt(click.ParamType):
    """An integer >= `low` (and <= `high` when given); `what` says what is valid in the message."""

    name = "integer"

    def __init__(self, low: int, high: Optional[int] = None, what: Optional[str] = None):
        self.low, self.high = low, high
        self.what = what or (f"an integer in [{low}, {high}]" if high is not None else f"an integer >= {low}")

    def convert(self, value: Any, param, ctx) -> int:
        if isinstance(value, bool):
            self.fail(f"{_label(param)} {value!r} is not an integer", param, ctx)
        if isinstance(value, int):
            number = value
        else:
            text = str(value).strip()
            try:
                number = int(text)
            except ValueError:
                self.fail(f"{_label(param)} {value!r} is not an integer: give {self.what}", param, ctx)
        if number < self.low or (self.high is not None and number > self.high):
            self.fail(f"{_label(param)} {value} is out of range: give {self.what}", param, ctx)
        return number


class CommaList(click.ParamType):
    """A comma-separated list of `item` values, e.g. `--sparsity 0.2,0.5`; returned as a tuple."""

    def __init__(self, item: click.ParamType, *, min_items: int = 1):
        self.item, self.min_items = item, min_items
        self.name = f"{item.name}[,{item.name}...]"

    def convert(self, value: Any, param, ctx) -> tuple:
        if isinstance(value, tuple):
            return value
        parts = [part.strip() for part in str(value).split(",")]
        if any(not part for part in parts) or len(parts) < self.min_items:
            self.fail(f"{_label(param)} {value!r} is not a comma-separated list: write e.g. 1,2,3", param, ctx)
        return tuple(self.item.convert(part, param, ctx) for part in parts)


def _label(param) -> str:
    if param is None:
        return "value"
    opts = getattr(param, "opts", None) or [param.name]
    return max(opts, key=len)


FINITE_FLOAT = FiniteFloat()
POSITIVE_FLOAT = FiniteFloat(0.0, low_open=True)
NON_NEGATIVE_FLOAT = FiniteFloat(0.0)
FRACTION = FiniteFloat(0.0, 1.0)  # a closed [0, 1]
POSITIVE_INT = BoundedInt(1, what="a whole number >= 1")
NON_NEGATIVE_INT = BoundedInt(0, what="a whole number >= 0")
INPUT_SIZE = BoundedInt(8, what="a square size in pixels >= 8, e.g. 32")
THREADS = BoundedInt(1, 1024, what="a thread count >= 1")
SEED = BoundedInt(0, 2**32 - 1, what="an integer in [0, 4294967295]")


def float_range(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> FiniteFloat:
    """A finite float in [low, high]; `low_open`/`high_open` exclude an end."""
    return FiniteFloat(low, high, low_open=low_open, high_open=high_open)


def comma_list(item: click.ParamType, *, min_items: int = 1) -> CommaList:
    return CommaList(item, min_items=min_items)


class ExecutorType(click.ParamType):
    """`local`, `process:N` or `ray[:ADDRESS]`, checked before any work (Ray missing: the install line)."""

    name = "executor"

    def convert(self, value: Any, param, ctx) -> str:
        from edgebench.errors import EdgebenchError
        from edgebench.executor.spec import parse_executor

        try:
            return str(parse_executor(str(value)))
        except EdgebenchError as exc:
            self.fail(str(exc), param, ctx)


def executor_option(help: str = "where the tasks run: local (here, one at a time), process:N (N worker "  # noqa: A002
                    "processes here), ray (a local Ray cluster) or ray:ADDRESS (a running one: auto, "
                    "ray://HOST:10001)"):
    return click.option("--executor", type=ExecutorType(), default="local", show_default=True,
                        metavar="local|process:N|ray[:ADDRESS]", help=help)
