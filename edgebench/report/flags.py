"""Results that should not be trusted, and why: throttling, a noisy p50, a tail that changes an answer, too few
runs or images, accuracies measured on different evaluation sets, and latencies of emulated devices.

What is judged is what the report uses. The report compares p50s, so `noisy` reads the p50's 95 % interval
(its half-width against `max_half_width_pct`), not the spread of all samples: a busy machine's slow tail
widens the samples' CV without moving the p50. Results without rounds (no interval) fall back to the CV.
The tail (p90/p50) is shown in its own column and flagged only where it changes an answer: another row on the
same device is slower by p50 but faster by p90 (each by more than `min_tail_effect`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Set

from device_agent.protocol import TimingSettings
from device_agent.stats import NOISY_HALF_WIDTH_PCT
from edgebench.report.table import Row

MIN_RUNS = TimingSettings().min_runs  # fewer timed runs than the agent asks for by default is flagged
AGENT_VERDICTS_KEPT = ("throttled", "too-short")  # judged by the agent from what only it saw


@dataclass(frozen=True, kw_only=True)
class FlagThresholds:
    max_cv: float = 0.10          # coefficient of variation of the latency samples (results without rounds)
    max_half_width_pct: float = NOISY_HALF_WIDTH_PCT  # the p50's 95 % interval half-width, % of the p50
    min_runs: int = MIN_RUNS      # timed runs
    min_eval_images: int = 100    # images behind an accuracy figure
    min_tail_effect: float = 0.02  # both orders must differ by more than 2 % for a tail to change an answer


def tail_ratio(row: Row) -> Optional[float]:
    """p90/p50: how far the slow tail reaches beyond the typical run (1.0 = none)."""
    return row.p90_ms / row.p50_ms if row.p50_ms > 0 else None


def noise_flag(row: Row, thresholds: FlagThresholds) -> Optional[str]:
    if row.stability in AGENT_VERDICTS_KEPT:
        return f"{row.stability} timing: {row.stability_reason or 'as judged by the agent'}"
    if row.ci_half_width_pct is not None:
        if row.ci_half_width_pct > thresholds.max_half_width_pct:
            return (f"noisy p50: its 95 % interval is +/-{row.ci_half_width_pct:.1f} % wide "
                    f"(> {thresholds.max_half_width_pct:g} %)")
        return None
    if row.stability == "noisy":
        return f"noisy timing: {row.stability_reason or 'as judged by the agent'}"
    if row.stability is None and row.cv is not None and row.cv > thresholds.max_cv:
        return (f"noisy timing: CV {100 * row.cv:.0f} % > {100 * thresholds.max_cv:.0f} % (no p50 interval in "
                "this result: measure with rounds for one)")
    return None


def tail_flag(row: Row, rows: Sequence[Row], thresholds: FlagThresholds) -> Optional[str]:
    """Flagged when the tail reverses an order the p50 gives: a row this one beats by p50 beats it by p90."""
    effect = 1.0 + thresholds.min_tail_effect
    for other in rows:
        if other is row or other.device != row.device or other.emulated != row.emulated:
            continue
        if other.p50_ms > row.p50_ms * effect and row.p90_ms > other.p90_ms * effect:
            return (f"heavy tail (p90/p50 {tail_ratio(row):.2f}x): faster than {other.model} {other.label} by p50 "
                    f"({row.p50_ms:.3f} against {other.p50_ms:.3f} ms) but slower by p90 ({row.p90_ms:.3f} "
                    f"against {other.p90_ms:.3f} ms)")
    return None


def flag_rows(rows: List[Row], thresholds: FlagThresholds = FlagThresholds()) -> List[Row]:
    eval_sets: Dict[str, Set[str]] = {}
    for row in rows:
        if row.eval_sha256:
            eval_sets.setdefault(row.model, set()).add(row.eval_sha256)
    flagged = []
    for row in rows:
        flags = list(row.flags)
        flags += [flag for flag in (noise_flag(row, thresholds), tail_flag(row, rows, thresholds)) if flag]
        if row.runs < thresholds.min_runs:
            flags.append(f"only {row.runs} timed runs (< {thresholds.min_runs})")
        if row.eval_count is not None and row.eval_count < thresholds.min_eval_images:
            flags.append(f"accuracy on only {row.eval_count} images (< {thresholds.min_eval_images})")
        if len(eval_sets.get(row.model, ())) > 1:
            flags.append("results of this model were scored on different evaluation sets")
        if row.emulated:
            flags.append("emulated device: its latencies are not those of real hardware and are compared only "
                         "with other emulated results")
        flagged.append(replace(row, flags=tuple(flags)))
    return flagged


def grouped_notes(rows: Sequence[Row]) -> List[str]:
    """Each distinct flag once, followed by the rows it applies to (a flag shared by eight rows is one note)."""
    groups: Dict[str, List[str]] = {}
    for row in rows:
        for flag in row.flags:
            groups.setdefault(flag, []).append(f"{row.device} {row.model} {row.label}")
    return [f"{flag}: {', '.join(who)}" if len(who) > 1 else f"{who[0]}: {flag}" for flag, who in groups.items()]
