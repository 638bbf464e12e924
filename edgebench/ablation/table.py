"""The ablation table: rows, drops against the baseline, the Pareto front, the max-drop answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from edgebench.errors import EdgebenchError
from edgebench.report.budget import Candidate, answer_within_budget
from edgebench.report.pareto import pareto_front
from edgebench.report.writers import csv_text as table_csv, figure_png, markdown_table, with_notes

COLUMNS = [("index", "#"), ("variant", "variant"), ("techniques", "techniques"), ("params", "params"),
           ("mflops", "MFLOPs"), ("size_mib", "size MiB"), ("accuracy", "accuracy %"), ("drop_pp", "drop pp"),
           ("study_accuracy", "study CIFAR acc %"), ("pareto", "Pareto")]
EXPORT_COLUMNS = [("int8_onnx_mib", "int8 ONNX MiB"), ("int8_accuracy", "int8 acc %"),
                  ("int8_agreement", "int8 agree %")]


def columns(rows: Sequence[Dict]) -> List:
    exported = any("int8_onnx_mib" in row for row in rows)
    return COLUMNS[:-2] + (EXPORT_COLUMNS if exported else []) + COLUMNS[-2:]


@dataclass(frozen=True, kw_only=True)
class AblationTable:
    arch: str
    baseline: str
    rows: List[Dict]
    max_drop: Optional[float] = None
    smallest: Optional[Dict] = None  # within max_drop: fewest parameters
    cheapest: Optional[Dict] = None  # within max_drop: fewest FLOPs
    withheld: Optional[str] = None  # why no variant is named within max_drop

    def as_dict(self) -> Dict:
        return {"arch": self.arch, "baseline": self.baseline, "max_drop": self.max_drop,
                "smallest": self.smallest and self.smallest["variant"],
                "cheapest": self.cheapest and self.cheapest["variant"], "withheld": self.withheld, "rows": self.rows}


def pareto(rows: Sequence[Dict], cost: str) -> List[Dict]:
    """Rows no other row beats on both `cost` (lower) and accuracy (higher), cheapest first."""
    return [rows[index] for index in pareto_front([(row[cost], row["accuracy"]) for row in rows])]


def build_table(arch: str, measured: Sequence[Dict], baseline: str, max_drop: Optional[float] = None) -> AblationTable:
    base = next((row for row in measured if row["variant"] == baseline), None)
    if base is None:
        raise EdgebenchError(f"baseline '{baseline}' was not measured: choose from "
                             f"{', '.join(row['variant'] for row in measured)}")
    rows = []
    on_params = {row["variant"] for row in pareto(measured, "params")}
    on_flops = {row["variant"] for row in pareto(measured, "mflops")}
    for row in measured:
        marks = [name for name, front in (("params", on_params), ("FLOPs", on_flops)) if row["variant"] in front]
        rows.append({**row, "drop_pp": round(base["accuracy"] - row["accuracy"], 2), "pareto": "+".join(marks)})
    if max_drop is None:
        return AblationTable(arch=arch, baseline=baseline, rows=rows)
    # Within the budget, "smallest" is the fewest parameters and "cheapest" the fewest FLOPs.
    budget = answer_within_budget(
        reference_accuracy=base["accuracy"], max_drop_pp=max_drop,
        candidates=[Candidate(name=row["variant"], accuracy=row["accuracy"], size=row["params"], latency=row["mflops"],
                              item=row) for row in rows])
    return AblationTable(arch=arch, baseline=baseline, rows=rows, max_drop=max_drop,
                         smallest=budget.smallest and budget.smallest.item,
                         cheapest=budget.fastest and budget.fastest.item, withheld=budget.withheld)


def _cell(row: Dict, key: str) -> str:
    value = row.get(key)
    if value is None or value == "":
        return "-"
    if key == "techniques":
        return " > ".join(value) or "(base)"
    if key == "params":
        return f"{value:,}"
    return str(value)


def answer(table: AblationTable) -> List[str]:
    if table.max_drop is None:
        return []
    if table.withheld:
        return [f"no variant within {table.max_drop:g} pp of {table.baseline}: {table.withheld}"]
    lines = []
    for label, row in (("smallest", table.smallest), ("fewest FLOPs", table.cheapest)):
        lines.append(f"{label} within {table.max_drop:g} pp of {table.baseline}: {row['variant']} "
                     f"({row['params']:,} params, {row['mflops']} MFLOPs, {row['accuracy']} %, "
                     f"drop {row['drop_pp']} pp)")
    return lines


def markdown(table: AblationTable, note: str = "") -> str:
    lines = [f"# Ablation: {table.arch} (drop against {table.baseline})", ""]
    if note:
        lines += [note, ""]
    shown = columns(table.rows)
    lines += markdown_table([title for _, title in shown], ([_cell(row, key) for key, _ in shown] for row in table.rows))
    return with_notes(lines, answer(table))


def csv_text(table: AblationTable) -> str:
    keys = [key for key, _ in columns(table.rows)] + ["classes", "epochs", "train_images", "test_images",
                                                      "train_seconds", "description"]
    return table_csv(keys, ({**row, "techniques": " > ".join(row["techniques"])} for row in table.rows))


def plot(table: AblationTable) -> bytes:
    """Accuracy against parameters and against FLOPs (log x), the Pareto front drawn, points numbered."""
    import matplotlib  # the plots extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # matplotlib: optional, loaded only when a figure is drawn

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    for axis, cost, label in ((axes[0], "params", "parameters"), (axes[1], "mflops", "MFLOPs (fvcore)")):
        xs = [row[cost] for row in table.rows]
        ys = [row["accuracy"] for row in table.rows]
        axis.scatter(xs, ys, color="#4c72b0", zorder=3)
        front = pareto(table.rows, cost)
        axis.plot([row[cost] for row in front], [row["accuracy"] for row in front], color="#dd8452",
                  marker="o", zorder=2, label="Pareto front")
        for row in table.rows:
            tag = str(row["index"]) if row.get("index") is not None else row["variant"]
            axis.annotate(tag, (row[cost], row["accuracy"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
            if row["variant"] == table.baseline:
                axis.scatter([row[cost]], [row["accuracy"]], marker="*", s=180, color="#c44e52", zorder=4,
                             label=f"baseline ({row['variant']})")
        axis.set_xscale("log")
        axis.set_xlabel(f"{label} (log scale)")
        axis.set_ylabel("test accuracy %")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(loc="lower right", fontsize=8)
    figure.suptitle(f"{table.arch} ablation: accuracy against size and cost")
    return figure_png(figure, dpi=110, tight=False)
