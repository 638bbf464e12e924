"""`edgebench.optimize`: the fastest (or smallest) artifact within an accuracy budget, proven on the device.

The search is `edgebench.optimize.run`'s; this is its entry point from Python: an `OptimizeSpec` in, its
`Outcome` out (the report as a value, the one answer line), nothing printed unless `progress=True`.
"""

from __future__ import annotations

from typing import Any

from edgebench import progress as progress_module
from edgebench.optimize.run import run_optimize


def optimize(spec: Any, *, progress: bool = False) -> Any:
    """Run the search for `spec` (an `edgebench.optimize.run.OptimizeSpec`) and return its `Outcome`
    (`report`, `answer_line`); an interruption is raised again once the report is written."""
    reporter = progress_module.for_cli(quiet=False) if progress else progress_module.Progress()
    outcome = run_optimize(spec, reporter)
    if outcome.interrupted is not None:
        raise outcome.interrupted
    return outcome
