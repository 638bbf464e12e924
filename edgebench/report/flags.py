"""Results that should not be trusted, and why: throttling, noisy timing (the agent's stability verdict where
the result has one, else the CV), too few runs or images, accuracies measured on different evaluation sets,
and latencies of emulated devices."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Set

from device_agent.protocol import TimingSettings
from edgebench.report.table import Row

MIN_RUNS = TimingSettings().min_runs  # fewer timed runs than the agent asks for by default is flagged


@dataclass(frozen=True, kw_only=True)
class FlagThresholds:
    max_cv: float = 0.10          # coefficient of variation of the latency samples
    min_runs: int = MIN_RUNS      # timed runs
    min_eval_images: int = 100    # images behind an accuracy figure


def flag_rows(rows: List[Row], thresholds: FlagThresholds = FlagThresholds()) -> List[Row]:
    eval_sets: Dict[str, Set[str]] = {}
    for row in rows:
        if row.eval_sha256:
            eval_sets.setdefault(row.model, set()).add(row.eval_sha256)
    flagged = []
    for row in rows:
        flags = list(row.flags)
        if row.stability is not None:
            # Judged by the agent where it measured (rounds, interval, throttling): read, not judged again.
            if row.stability != "stable":
                flags.append(f"{row.stability} timing: {row.stability_reason or 'as judged by the agent'}")
        elif row.cv is not None and row.cv > thresholds.max_cv:
            flags.append(f"noisy timing: CV {100 * row.cv:.0f} % > {100 * thresholds.max_cv:.0f} %")
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
