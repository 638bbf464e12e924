"""Option types and the shared options of every command, each defined once with one rule.

The rules themselves live in `edgebench.api.rules` (the Python API checks keyword arguments with the same
ones): a bad value is refused by click (exit 2) with one line that names the option, the value and what is
valid, before any work starts. A shared option is a decorator here (`data_option`, `out_option`,
`force_option`, `max_drop_option`, `seed_option`, `threads_option`, `quiet_option`); a command states only its
help text.
"""

from __future__ import annotations

from typing import Any, Optional

import click

from edgebench.api import rules
from edgebench.errors import BadOptionError
from edgebench.errors import EdgebenchError
from edgebench.executor.spec import parse_executor
from edgebench.progress import Progress, for_cli, stdout_copy


class RuleType(click.ParamType):
    """A click type that checks a value with one of the shared rules."""

    def __init__(self, rule, name: str):
        self.rule, self.name = rule, name

    def convert(self, value: Any, param, ctx):
        try:
            return self.rule.check(value, _label(param))
        except BadOptionError as exc:
            self.fail(str(exc), param, ctx)


class CommaList(click.ParamType):
    """A comma-separated list of `item` values, e.g. `--sparsity 0.2,0.5`; returned as a tuple."""

    def __init__(self, item: RuleType, *, min_items: int = 1):
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


def FiniteFloat(low: Optional[float] = None, high: Optional[float] = None, *, low_open: bool = False,  # noqa: N802
                high_open: bool = False) -> RuleType:
    return RuleType(rules.FiniteFloat(low, high, low_open, high_open), "float")


def BoundedInt(low: int, high: Optional[int] = None, what: Optional[str] = None) -> RuleType:  # noqa: N802
    return RuleType(rules.BoundedInt(low, high, what), "integer")


FINITE_FLOAT = FiniteFloat()
POSITIVE_FLOAT = RuleType(rules.POSITIVE_FLOAT, "float")
NON_NEGATIVE_FLOAT = RuleType(rules.NON_NEGATIVE_FLOAT, "float")
FRACTION = RuleType(rules.FRACTION, "float")  # a closed [0, 1]
POSITIVE_INT = RuleType(rules.POSITIVE_INT, "integer")
NON_NEGATIVE_INT = RuleType(rules.NON_NEGATIVE_INT, "integer")
INPUT_SIZE = RuleType(rules.INPUT_SIZE, "integer")
THREADS = RuleType(rules.THREADS, "integer")
SEED = RuleType(rules.SEED, "integer")
MAX_DROP = RuleType(rules.MAX_DROP, "float")


def float_range(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> RuleType:
    """A finite float in [low, high]; `low_open`/`high_open` exclude an end."""
    return FiniteFloat(low, high, low_open=low_open, high_open=high_open)


def comma_list(item: RuleType, *, min_items: int = 1) -> CommaList:
    return CommaList(item, min_items=min_items)


# The shared options. Each command passes only what it says about the option (its help, its default).

DATA_HELP = "data set: MNIST IDX folder, CIFAR batches, ImageFolder or .npz (default: the embedded digits)"


def data_option(help: str = DATA_HELP):  # noqa: A002 (click's own keyword)
    return click.option("--data", metavar="PATH", help=help)


def out_option(help: str, *, file: bool = False, default: Optional[str] = None):  # noqa: A002
    kind = click.Path(dir_okay=False) if file else click.Path(file_okay=False)
    return click.option("--out", type=kind, default=default, show_default=default is not None, help=help)


def force_option(help: str = "replace an existing output (only one edgebench wrote)"):  # noqa: A002
    return click.option("--force", is_flag=True, help=help)


def max_drop_option(help: str):  # noqa: A002
    return click.option("--max-drop", type=MAX_DROP, metavar="PP", help=f"{help} (a number >= 0)")


def seed_option(default: int = 0):
    return click.option("--seed", type=SEED, default=default, show_default=True,
                        help="random seed (data sampling, initial weights, calibration images)")


def threads_option(help: str = "threads", *, sweep: bool = False, default: Optional[int] = None):  # noqa: A002
    """One thread count (>= 1), or with `sweep` a comma-separated list of them to measure each (1,2,4)."""
    kind = comma_list(THREADS) if sweep else THREADS
    return click.option("--threads", type=kind, default=default, show_default=default is not None, help=help)


QUIET_HELP = "plain progress lines, no bars (also the case when stdout is not a terminal); every stage is still " \
    "printed with its seconds"


def quiet_option(help: str = QUIET_HELP):  # noqa: A002 (click's own keyword)
    return click.option("--quiet", is_flag=True, help=help)


def reporter(quiet: bool) -> Progress:
    """The progress a command passes to the API: its lines, stage lines and bars on stdout (where its other
    lines go); plain lines with `--quiet` or when stdout is not a terminal."""
    return for_cli(quiet=quiet, stream=stdout_copy())


class ExecutorType(click.ParamType):
    """`local`, `process:N` or `ray[:ADDRESS]`, checked before any work (Ray missing: the install line)."""

    name = "executor"

    def convert(self, value: Any, param, ctx) -> str:

        try:
            return str(parse_executor(str(value)))
        except EdgebenchError as exc:
            self.fail(str(exc), param, ctx)


def executor_option(help: str = "where the tasks run: local (here, one at a time), process:N (N worker "  # noqa: A002
                    "processes here), ray (a local Ray cluster) or ray:ADDRESS (a running one: auto, "
                    "ray://HOST:10001)"):
    return click.option("--executor", type=ExecutorType(), default="local", show_default=True,
                        metavar="local|process:N|ray[:ADDRESS]", help=help)
