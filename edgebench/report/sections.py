"""Report sections drawn from what the agent recorded beyond latency: cold start (`report/coldstart.py`),
sustained runs (`report/sustained.py`),
per-layer profiles (`report/profile.py`), per-layer int8 sensitivity (`report/sensitivity.py`) and efficiency
against the device's peak (`report/efficiency.py`).

Each module offers `markdown(results) -> List[str]` and `html(results, out_dir) -> str`; a module that is not
installed is left out, while an error inside one that is installed is raised as any other."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import List, Optional, Sequence

from edgebench.report.load import LoadedResult

OPTIONAL_SECTIONS = ("edgebench.report.coldstart", "edgebench.report.sustained", "edgebench.report.profile",
                     "edgebench.report.sensitivity", "edgebench.report.efficiency")


def available(names: Sequence[str] = OPTIONAL_SECTIONS) -> List[ModuleType]:
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the section exists but something it imports is missing
                raise
    return modules


def markdown_lines(results: Sequence[LoadedResult]) -> List[str]:
    lines: List[str] = []
    if not results:
        return lines
    for module in available():
        section = list(module.markdown(results))
        if section:
            lines += section + [""]
    return lines


def html_parts(results: Sequence[LoadedResult], out_dir: Optional[str] = None) -> List[str]:
    if not results:
        return []
    return [part for part in (module.html(results, out_dir) for module in available()) if part]
