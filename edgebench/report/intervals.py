"""Is one measured row faster than another beyond the noise? Ratios of latency with a 95 % interval.

Rows of one result measured in interleaved rounds are compared pairwise per round (`device_agent.stats`).
Rows of different results (other devices, other runs) were not interleaved: they are compared through the
ratio of the medians of their round medians, with a percentile bootstrap interval (fixed seed, so the report
is reproducible), and since that interval cannot see the drift between separate runs, a difference between
results counts only beyond UNPAIRED_MIN_EFFECT. Rows measured without rounds (results older than schema
minor 2) have no interval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from device_agent import stats
from edgebench.report.row import Row

BOOTSTRAP_RESAMPLES = 4000
BOOTSTRAP_SEED = 0
# The bootstrap interval covers each run's own noise, not the drift between separate runs, which is larger:
# 80 runs of one artifact on the shared development VM (bench/latency_ab.py) had medians up to 2.1x apart, and
# with a 2 % margin 41 % of those same-artifact pairs would have been called different. Across results a
# difference counts only beyond 1.5x (2.6 % of those pairs still were); closer ones need one interleaved run.
UNPAIRED_MIN_EFFECT = 0.5
PAIRED_METHOD = "paired per-round ratios (interleaved rounds), order-statistic 95 % interval"
UNPAIRED_METHOD = (f"ratio of medians of round medians, percentile bootstrap 95 % interval ({BOOTSTRAP_RESAMPLES} "
                   f"resamples, seed {BOOTSTRAP_SEED}); unpaired: the two were not measured interleaved, so the "
                   f"interval leaves out the drift between separate runs and a difference counts only beyond "
                   f"{1 + UNPAIRED_MIN_EFFECT:g}x")


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """`other` against `reference`: ratio above 1 means `other` is slower."""

    reference: Row
    other: Row
    ratio: float
    lo: float
    hi: float
    verdict: str  # "faster", "slower" or "indistinguishable" (of `other` against `reference`)
    paired: bool

    def interval_text(self) -> str:
        return f"{self.ratio:.2f} [{self.lo:.2f}, {self.hi:.2f}]"


def unpaired_ratio_ci(a_rounds: Sequence[float], b_rounds: Sequence[float],
                      confidence: float = 0.95) -> Tuple[float, float, float]:
    """(median(b) / median(a), lo, hi) with a percentile bootstrap interval over resampled round medians."""
    a = np.asarray(a_rounds, dtype=np.float64)
    b = np.asarray(b_rounds, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError("ratio interval: both rows need at least one round")
    generator = np.random.default_rng(BOOTSTRAP_SEED)
    a_medians = np.median(a[generator.integers(0, a.size, (BOOTSTRAP_RESAMPLES, a.size))], axis=1)
    b_medians = np.median(b[generator.integers(0, b.size, (BOOTSTRAP_RESAMPLES, b.size))], axis=1)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(b_medians / a_medians, [tail, 1.0 - tail])
    return float(np.median(b) / np.median(a)), float(lo), float(hi)


def paired(a: Row, b: Row) -> bool:
    """Measured in the same interleaved run: the same result file, rounds taken in turn."""
    return a.source == b.source and a.device == b.device and bool(a.interleaved) and bool(b.interleaved)


def compare(reference: Row, other: Row) -> Optional[Comparison]:
    """`other` against `reference`, or None when either has no rounds to compare."""
    if not reference.rounds_ms or not other.rounds_ms:
        return None
    together = paired(reference, other)
    if together:
        ratio = stats.ratio_ci(reference.rounds_ms, other.rounds_ms)
    else:
        ratio = unpaired_ratio_ci(reference.rounds_ms, other.rounds_ms)
    verdict = stats.verdict(ratio) if together else stats.verdict(ratio, margin=UNPAIRED_MIN_EFFECT)
    return Comparison(reference=reference, other=other, ratio=ratio[0], lo=ratio[1], hi=ratio[2],
                      verdict=verdict, paired=together)


@dataclass(frozen=True, kw_only=True)
class Contest:
    """Which of several rows is fastest, and whether the data says so."""

    fastest: Row                       # the lowest median of round medians (without rounds: the lowest p50)
    comparisons: Tuple[Comparison, ...]  # every other row against it, from the closest
    untested: Tuple[Row, ...] = ()     # rows without rounds: no interval to test with

    @property
    def separated(self) -> bool:
        """The fastest is named only when there is another row and every other row is measurably slower."""
        return bool(self.comparisons) and not self.untested and all(c.verdict == "slower" for c in self.comparisons)

    @property
    def ties(self) -> List[Comparison]:
        return [c for c in self.comparisons if c.verdict != "slower"]

    def describe(self, name=lambda row: row.label) -> str:
        """One line: who is fastest, or which rows the data cannot tell apart."""
        if self.untested:
            return (f"{name(self.fastest)} has the lowest p50, not tested against "
                    f"{', '.join(name(r) for r in self.untested)} (measured without rounds: no confidence interval)")
        if not self.comparisons:
            return f"{name(self.fastest)} (nothing else to compare with)"
        if self.separated:
            closest = self.comparisons[0]
            return (f"{name(self.fastest)} is fastest: the runner-up {name(closest.other)} is slower, ratio "
                    f"{closest.interval_text()}{'' if closest.paired else ' (unpaired)'}")
        tied = self.ties
        names = [name(self.fastest)] + [name(c.other) for c in tied]
        together = ", ".join(names[:-1]) + f" and {names[-1]}"
        ratios = "; ".join(f"{name(c.other)}/{name(self.fastest)} {c.interval_text()}"
                           f"{'' if c.paired else ' unpaired'}" for c in tied)
        if all(c.verdict == "indistinguishable" for c in tied):
            return f"{together} are indistinguishable (ratio {ratios})"
        return f"{together} are not separated: their medians and their ratios disagree (ratio {ratios})"


def contest(rows: Sequence[Row]) -> Optional[Contest]:
    if not rows:
        return None
    # The agent's order where every row has rounds (median of round medians), else the p50.
    timed = all(row.rounds_ms for row in rows)
    ordered = sorted(rows, key=lambda row: float(np.median(row.rounds_ms)) if timed else row.p50_ms)
    fastest, others = ordered[0], ordered[1:]
    comparisons = [compare(fastest, row) for row in others]
    found = sorted((c for c in comparisons if c is not None), key=lambda c: c.ratio)
    untested = tuple(row for row, c in zip(others, comparisons) if c is None)
    return Contest(fastest=fastest, comparisons=tuple(found), untested=untested)
