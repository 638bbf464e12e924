"""One rule per option value, shared by the Python API and the command line (`cli/options.py` wraps these in
click types): the same check and the same one-line message whether the value came from `--max-drop -1` or
`max_drop=-1`; only the label differs (the option's flag, or the keyword's name)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

from edgebench.errors import BadOptionError, EdgebenchError, MissingDependencyError
from edgebench.executor.spec import parse_executor


@dataclass(frozen=True)
class FiniteFloat:
    """A float that is neither nan nor inf, optionally within [low, high] (an end excluded when open)."""

    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return "finite"

    def check(self, value: Any, label: str) -> float:
        if isinstance(value, bool):
            raise BadOptionError(f"{label} {value!r} is not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadOptionError(f"{label} {value!r} is not a number") from None
        if not math.isfinite(number):
            raise BadOptionError(f"{label} {value} is not a finite number")
        below = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        above = self.high is not None and (number >= self.high if self.high_open else number > self.high)
        if below or above:
            raise BadOptionError(f"{label} {value} is out of range: give a number {self.describe()}")
        return number


@dataclass(frozen=True)
class BoundedInt:
    """An integer >= `low` (and <= `high` when given); `what` says what is valid in the message."""

    low: int
    high: Optional[int] = None
    what: Optional[str] = None

    def describe(self) -> str:
        if self.what:
            return self.what
        return f"an integer in [{self.low}, {self.high}]" if self.high is not None else f"an integer >= {self.low}"

    def check(self, value: Any, label: str) -> int:
        if isinstance(value, bool):
            raise BadOptionError(f"{label} {value!r} is not an integer")
        if isinstance(value, int):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                raise BadOptionError(f"{label} {value!r} is not an integer: give {self.describe()}") from None
        if number < self.low or (self.high is not None and number > self.high):
            raise BadOptionError(f"{label} {value} is out of range: give {self.describe()}")
        return number


def check_list(rule, values: Any, label: str) -> Tuple:
    """A list of values under one rule: a comma-separated string (`1,2,4`), one value, or a sequence."""
    if isinstance(values, str):
        parts = [part.strip() for part in values.split(",")]
        if any(not part for part in parts):
            raise BadOptionError(f"{label} {values!r} is not a comma-separated list: write e.g. 1,2,3")
        values = parts
    elif not isinstance(values, (list, tuple)):
        values = [values]
    if not values:
        raise BadOptionError(f"{label} is empty: give at least one value")
    return tuple(rule.check(value, label) for value in values)


def check_choice(value: Any, choices: Sequence[str], label: str) -> str:
    if value not in choices:
        raise BadOptionError(f"{label} {value!r} is not one of {', '.join(map(repr, choices))}")
    return value


# The shared options' rules: one each, used by every command and every API function that takes the option.
MAX_DROP = FiniteFloat(0.0)  # accuracy points; 0 means "no drop at all"
SEED = BoundedInt(0, 2**32 - 1, "an integer in [0, 4294967295]")
THREADS = BoundedInt(1, 1024, "a thread count >= 1")
POSITIVE_FLOAT = FiniteFloat(0.0, low_open=True)
NON_NEGATIVE_FLOAT = FiniteFloat(0.0)
FRACTION = FiniteFloat(0.0, 1.0)
POSITIVE_INT = BoundedInt(1, what="a whole number >= 1")
NON_NEGATIVE_INT = BoundedInt(0, what="a whole number >= 0")
INPUT_SIZE = BoundedInt(8, what="a square size in pixels >= 8, e.g. 32")


def optional(rule, value: Any, label: str):
    """`None` passes (the option's default applies); anything else must follow the rule."""
    return None if value is None else rule.check(value, label)


def check_executor(value: Any, label: str = "executor") -> str:
    """`local`, `process:N` or `ray[:ADDRESS]` (a bad one is a bad option; Ray missing: the install line)."""
    try:
        return str(parse_executor(str(value)))
    except MissingDependencyError:
        raise
    except EdgebenchError as exc:
        raise BadOptionError(f"{label}: {exc}") from None
