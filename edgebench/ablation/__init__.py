"""The study's ablation sweep: train every chosen variant with one recipe, tabulate size, cost and accuracy."""

from edgebench.ablation.run import run_ablation
from edgebench.ablation.spec import AblationSpec, select_variants
from edgebench.ablation.table import AblationTable, build_table

__all__ = ["AblationSpec", "AblationTable", "build_table", "run_ablation", "select_variants"]
