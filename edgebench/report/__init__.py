"""Compare device results across models, formats, precisions and devices."""

from edgebench.report.budget import BudgetAnswer, Candidate, answer_within_budget
from edgebench.report.compare import DeviceAnswer, build_rows, within_budget
from edgebench.report.load import load_results
from edgebench.report.table import Row, with_baselines

__all__ = ["BudgetAnswer", "Candidate", "DeviceAnswer", "Row", "answer_within_budget", "build_rows", "load_results",
           "with_baselines", "within_budget"]
