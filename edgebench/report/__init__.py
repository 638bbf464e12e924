"""Compare device results across models, formats, precisions and devices."""

from edgebench.report.load import load_results
from edgebench.report.table import Row, build_rows, within_budget

__all__ = ["Row", "build_rows", "load_results", "within_budget"]
