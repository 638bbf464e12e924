"""User-facing errors: the CLI shows their message as one line and exits non-zero."""

from __future__ import annotations

import difflib
from typing import Iterable


class EdgebenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class UnknownNameError(EdgebenchError):
    """A name that is not in a registry; the message lists the close matches."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]):
        choices = sorted(choices)
        close = difflib.get_close_matches(name, choices, n=4, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"choose from {', '.join(choices)}"
        super().__init__(f"unknown {kind} '{name}': {hint}")
        self.name = name
        self.choices = choices


class MissingDependencyError(EdgebenchError):
    """An optional heavy dependency is not installed."""

    def __init__(self, module: str, extra: str):
        super().__init__(f"{module} is not installed: pip install 'edgebench[{extra}]'")


def require(module: str, extra: str):
    """Import an optional module lazily, or fail with the install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module, extra) from exc
