"""What the API prints: nothing, unless the caller asks for progress (`progress=True`), then the same lines
the command line shows. The CLI passes its own reporter (`edgebench.progress.Progress`, bars or plain lines).

Every long function takes one `progress` argument:
- `False` (the default): nothing printed; stage times are still recorded in what the function writes;
- `True`: lines and stage times on stdout, bars where a stage iterates when stdout is a terminal;
- a callable (e.g. `click.echo`, `list.append`): each line goes to it, stage lines too, no bars;
- a `Progress`: its own lines, bars and stage list (`progress.records()` after the call).
"""

from __future__ import annotations

import sys
from typing import Callable, Tuple, Union

from edgebench.progress import Progress, disabled, through

Log = Callable[[str], None]


def _quiet(line: str) -> None:
    """Progress off: the lines are dropped."""


def printer(progress: Union[bool, Log, Progress]) -> Log:
    """`True`: print each line; `False`: nothing; a callable: it receives each line (the CLI's `click.echo`);
    a `Progress`: its `echo` (lines that do not tear its bars)."""
    if isinstance(progress, Progress):
        return progress.echo
    if callable(progress):
        return progress
    return print if progress else _quiet


def reporting(progress: Union[bool, Log, Progress]) -> Tuple[Log, Progress]:
    """(log, reporter) for a `progress` argument, the two always agreeing on where lines go."""
    if isinstance(progress, Progress):
        return progress.echo, progress
    if callable(progress):
        return progress, through(progress)
    if progress:
        reporter = Progress(enabled=True, stream=sys.stdout)
        return reporter.echo, reporter
    return _quiet, disabled()
