"""The parity gate every artifact passes through: close for float, agreeing and accurate for quantized."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from edgebench.export.int8.budget import within
from edgebench.export.spec import FLOAT_PRECISIONS, GateSpec, Precision
from edgebench.export.verify import Agreement


@dataclass(frozen=True, kw_only=True)
class Verdict:
    passed: bool
    reasons: Tuple[str, ...]  # why it failed, one clause each; empty when it passed
    criteria: dict  # the thresholds it was held to

    def as_dict(self) -> dict:
        return {"passed": self.passed, "reasons": list(self.reasons), "criteria": self.criteria}


def judge(precision: Precision, check: Agreement, gate: GateSpec, *, trained: bool) -> Verdict:
    if not check.finite:
        return Verdict(passed=False, reasons=("outputs NaN or infinity",), criteria={})
    if precision in FLOAT_PRECISIONS:
        return _judge_float(check, gate.tolerance(precision), gate.min_float_agreement)
    return _judge_quantized(precision, check, gate, trained)


def _judge_float(check: Agreement, tolerance: float, min_agreement: float) -> Verdict:
    reasons = []
    if check.relative_diff > tolerance:
        reasons.append(f"relative max |diff| {check.relative_diff:.2e} is above {tolerance:.0e} "
                       f"(max |diff| {check.max_abs_diff:.3g})")
    if check.top1_agreement < min_agreement:
        reasons.append(f"top-1 agreement {100 * check.top1_agreement:.1f} % is below {100 * min_agreement:.1f} %")
    return Verdict(passed=not reasons, reasons=tuple(reasons),
                   criteria={"relative_tolerance": tolerance, "min_agreement": min_agreement})


def _judge_quantized(precision: Precision, check: Agreement, gate: GateSpec, trained: bool) -> Verdict:
    bound = gate.int8_drop_bound(precision)
    option = "--max-drop" if precision == Precision.INT8 and gate.max_int8_drop is not None else "--max-int8-drop"
    criteria = {"min_agreement": gate.min_quant_agreement, "max_drop_points": bound}
    if not trained:
        # Random weights give near-tied logits: agreement and accuracy say nothing about the conversion.
        return Verdict(passed=True, reasons=(), criteria={**criteria, "judged": False})
    reasons = []
    if check.top1_agreement < gate.min_quant_agreement:
        reasons.append(f"top-1 agreement {100 * check.top1_agreement:.1f} % is below "
                       f"{100 * gate.min_quant_agreement:.1f} % (--min-int8-agreement)")
    drop = check.drop_points
    if bound is not None and drop is not None and not within(drop, bound):
        reasons.append(f"accuracy drop {drop:.2f} pp is above {bound:g} pp ({option})")
    return Verdict(passed=not reasons, reasons=tuple(reasons), criteria={**criteria, "judged": True})
