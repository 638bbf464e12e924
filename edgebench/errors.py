"""User-facing errors, one hierarchy for the Python API and the command line.

Every error carries the one-line message the command line prints (`error: MESSAGE`) and the exit code it
exits with, so the CLI maps an exception to its exit without knowing which command raised it:

    EdgebenchError            1  a refused input or a failed write (what deeper layers raise by default)
    ├── BadOptionError        2  a bad option value: out of range, not finite, not a number, unknown choice
    ├── BadInputError         1  an unusable input: a model, data set, checkpoint, bundle or result file
    │   ├── UnknownNameError  1  a name that is not in a registry, with the close matches
    │   └── MissingDependencyError  an optional package that is not installed, with the install command
    ├── RefusedArtifactError  3  export: the bundle was written but some artifact failed its parity gate
    └── DeviceError           1  a device could not be reached or prepared, or the agent failed on it
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Iterable


class EdgebenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 1


class BadOptionError(EdgebenchError):
    """An option value out of its range or not of its kind; the message names the option, the value and what
    is valid (the same words whether the option came from the command line or a keyword argument)."""

    exit_code = 2


class BadInputError(EdgebenchError):
    """An input that cannot be used: a model, data set, checkpoint, bundle or result file."""


class UnknownNameError(BadInputError):
    """A name that is not in a registry; the message lists the close matches."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]):
        choices = sorted(choices)
        close = difflib.get_close_matches(name, choices, n=4, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"choose from {', '.join(choices)}"
        super().__init__(f"unknown {kind} '{name}': {hint}")
        self.name = name
        self.choices = choices


class MissingDependencyError(BadInputError):
    """An optional heavy dependency is not installed."""

    def __init__(self, module: str, extra: str):
        super().__init__(f"{module} is not installed: pip install 'edgebench[{extra}]'")


class WriteError(EdgebenchError):
    """An output could not be written (a full disk, a read-only or forbidden folder). Every later step would fail
    the same way, so code that lets one candidate or artifact fail and goes on lets this one through."""


class RefusedArtifactError(EdgebenchError):
    """The bundle was written, but some requested artifact failed its parity gate or could not be converted.
    `bundle` is the written bundle (an `edgebench.Bundle`), its `rejected` entries say why."""

    exit_code = 3

    def __init__(self, message: str, bundle: Any = None):
        super().__init__(message)
        self.bundle = bundle


class DeviceError(EdgebenchError):
    """A device could not be reached or prepared, or the agent failed on it. `path` is the result file kept
    on the host when there is one (some artifacts failed, the others were measured)."""

    def __init__(self, message: str, path: Any = None):
        super().__init__(message)
        self.path = path


def require(module: str, extra: str):
    """Import an optional module lazily, or fail with the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module, extra) from exc
