"""The within-budget answer: of the candidates whose accuracy is at most `max_drop_pp` below one reference
accuracy, the smallest and the fastest, or the reason no answer can be given.

A pure function on plain values, used by `report`, the ablation table and the pruning study alike; what
"size" and "latency" mean (MiB and p50 ms, parameters and FLOPs) is up to the caller. The fastest here is the
lowest latency; whether it is faster than the others beyond the noise is for the caller to test
(`edgebench.report.intervals` for measured rows), with the candidates within the budget handed back."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Tuple

from edgebench.errors import EdgebenchError

# Accuracies are rounded to a few decimals upstream; a drop equal to the budget counts as within it.
TOLERANCE_PP = 1e-9


@dataclass(frozen=True, kw_only=True)
class Candidate:
    name: str
    accuracy: Optional[float]  # percent
    size: Optional[float] = None  # lower is better; None: unknown, never the smallest
    latency: Optional[float] = None  # lower is better; None: unknown, never the fastest
    item: Any = field(default=None, compare=False, repr=False)  # what the caller wants back (a row)

    def drop_from(self, reference_accuracy: float) -> Optional[float]:
        return None if self.accuracy is None else round(reference_accuracy - self.accuracy, 6)


@dataclass(frozen=True, kw_only=True)
class BudgetAnswer:
    max_drop_pp: float
    reference_accuracy: Optional[float]
    smallest: Optional[Candidate] = None
    fastest: Optional[Candidate] = None
    within: int = 0  # how many candidates are within the budget
    withheld: Optional[str] = None  # why there is no answer
    candidates_within: Tuple[Candidate, ...] = ()  # for the caller to test the fastest against the others


def _finite(value: Optional[float]) -> bool:
    return value is not None and math.isfinite(value)


def answer_within_budget(*, reference_accuracy: Optional[float], candidates: Sequence[Candidate],
                         max_drop_pp: float) -> BudgetAnswer:
    """Ties go to the other measure (the smallest of equally fast ones), then to the order given."""
    if not _finite(max_drop_pp) or max_drop_pp < 0:
        raise EdgebenchError(f"a drop budget of {max_drop_pp} pp is out of range: give a finite number of 0 or more")
    answer = BudgetAnswer(max_drop_pp=max_drop_pp, reference_accuracy=reference_accuracy)
    if not _finite(reference_accuracy):
        return _withheld(answer, "there is no reference accuracy to measure the drop from")
    scored = [c for c in candidates if _finite(c.accuracy)]
    if not scored:
        return _withheld(answer, "no candidate has a measured accuracy")
    within = [c for c in scored if c.drop_from(reference_accuracy) <= max_drop_pp + TOLERANCE_PP]
    if not within:
        best = max(scored, key=lambda c: c.accuracy)
        return _withheld(answer, f"no candidate is within {max_drop_pp:g} pp of {reference_accuracy:g} % (the most "
                                 f"accurate, {best.name}, is {best.drop_from(reference_accuracy):g} pp below)")
    sized = [c for c in within if _finite(c.size)]
    timed = [c for c in within if _finite(c.latency)]
    inf = float("inf")
    return BudgetAnswer(
        max_drop_pp=max_drop_pp, reference_accuracy=reference_accuracy, within=len(within),
        candidates_within=tuple(within),
        smallest=min(sized, key=lambda c: (c.size, c.latency if _finite(c.latency) else inf)) if sized else None,
        fastest=min(timed, key=lambda c: (c.latency, c.size if _finite(c.size) else inf)) if timed else None,
    )


def _withheld(answer: BudgetAnswer, reason: str) -> BudgetAnswer:
    return BudgetAnswer(max_drop_pp=answer.max_drop_pp, reference_accuracy=answer.reference_accuracy,
                        withheld=reason)
