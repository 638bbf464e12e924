"""The comparison as a whole: rows with baselines and flags, and the within-budget answer per device, whose
fastest is tested against the other candidates within the budget before it is named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from edgebench.report.budget import BudgetAnswer, Candidate, answer_within_budget
from edgebench.report.flags import FlagThresholds, flag_rows
from edgebench.report.intervals import Contest, contest
from edgebench.report.load import LoadedResult
from edgebench.report.table import Failure, Row, domains, reference_accuracy, rows_from_results, with_baselines


def build_rows(results: Sequence[LoadedResult], baseline: Optional[str] = None,
               thresholds: Optional[FlagThresholds] = None) -> Tuple[List[Row], List[Failure]]:
    rows, failures = rows_from_results(results)
    return flag_rows(with_baselines(rows, baseline), thresholds or FlagThresholds()), failures


@dataclass(frozen=True, kw_only=True)
class DeviceAnswer:
    """The budget answer for one device on one evaluation set."""

    device: str
    max_drop_pp: float
    answer: BudgetAnswer
    reference: Optional[Tuple[str, str]]  # (model, artifact)
    eval_sha256: Optional[str]
    emulated: bool = False
    several_domains: bool = False  # other evaluation sets (or emulated/real) are answered separately
    race: Optional[Contest] = None  # the fastest within the budget against the others within it

    @property
    def fastest(self) -> Optional[Row]:
        return self.answer.fastest.item if self.answer.fastest else None

    @property
    def smallest(self) -> Optional[Row]:
        return self.answer.smallest.item if self.answer.smallest else None

    def other_models(self) -> List[str]:
        """Winners that are a different model from the reference's: said explicitly wherever shown."""
        if self.reference is None:
            return []
        return sorted({row.model for row in (self.fastest, self.smallest) if row and row.model != self.reference[0]})


def within_budget(rows: Sequence[Row], max_drop: float) -> List[DeviceAnswer]:
    """Per comparison domain and device: the fastest and the smallest artifact whose accuracy is at most
    `max_drop` pp below the domain's one reference."""
    answers = []
    groups = domains(rows)
    for domain, group in sorted(groups.items(), key=lambda item: tuple(str(part) for part in item[0])):
        first = group[0]
        reference = (first.baseline_model, first.baseline) if first.baseline else None
        for device in sorted({r.device for r in group}):
            here = [r for r in group if r.device == device]
            candidates = [Candidate(name=f"{r.model} {r.artifact}", accuracy=r.accuracy, size=r.size_mib,
                                    latency=r.p50_ms, item=r) for r in here]
            accuracy = reference_accuracy(group, reference, device) if reference else None
            answer = answer_within_budget(reference_accuracy=accuracy, candidates=candidates, max_drop_pp=max_drop)
            if reference is None:
                answer = BudgetAnswer(max_drop_pp=max_drop, reference_accuracy=None,
                                      withheld="no fp32 artifact on this evaluation set to measure the drop from "
                                               "(name one with --baseline)")
            timed = [c.item for c in answer.candidates_within if c.latency is not None]
            answers.append(DeviceAnswer(device=device, max_drop_pp=max_drop, answer=answer, reference=reference,
                                        eval_sha256=first.eval_sha256, emulated=first.emulated,
                                        several_domains=len(groups) > 1, race=contest(timed)))
    return answers
