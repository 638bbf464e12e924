"""What the API prints: nothing, unless the caller asks for progress (`progress=True`), then the same lines
the command line shows. The CLI passes its own printer."""

from __future__ import annotations

from typing import Callable, Union

Log = Callable[[str], None]


def _quiet(line: str) -> None:
    """Progress off: the lines are dropped."""


def printer(progress: Union[bool, Log]) -> Log:
    """`True`: print each line; `False`: nothing; a callable: it receives each line (the CLI's `click.echo`)."""
    if callable(progress):
        return progress
    return print if progress else _quiet
