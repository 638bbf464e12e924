"""The study's pruning table carried to the device: for every pruning iteration, export fp32 and int8, run the
agent on this machine, and tabulate sparsity against accuracy, size (raw and gzip) and latency."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from edgebench.devices.local import run_agent_here
from edgebench.errors import EdgebenchError
from edgebench.executor import make_executor
from edgebench.executor.display import follow
from edgebench.executor.outcome import stop_on_write_failure
from edgebench.export.manifest import read_manifest
from edgebench.export.pipeline import export_bundle
from edgebench.export.spec import ExportSpec, Format, Precision
from edgebench.fileio import write_bytes, write_json, write_text
from edgebench.progress import Progress, through
from edgebench.prune.pipeline import read_summary
from edgebench.report.budget import BudgetAnswer, Candidate, answer_within_budget
from edgebench.report.load import read_result
from edgebench.report.writers import csv_text as table_csv, figure_png, markdown_table, with_notes

COLUMNS = [("iteration", "it"), ("sparsity", "sparsity %"), ("params", "params"), ("macs", "MMACs"),
           ("fp32_accuracy", "fp32 acc %"), ("int8_accuracy", "int8 acc %"), ("fp32_mib", "fp32 MiB"),
           ("fp32_gzip_mib", "fp32 gzip MiB"), ("int8_mib", "int8 MiB"), ("int8_gzip_mib", "int8 gzip MiB"),
           ("fp32_p50_ms", "fp32 p50 ms"), ("int8_p50_ms", "int8 p50 ms")]


@dataclass(frozen=True, kw_only=True)
class ExportTask:
    """One iteration's export, a task any executor can run (paths absolute: a worker may start elsewhere)."""
    model: str
    checkpoint: str
    data: Optional[str]
    bundle: str
    formats: Tuple[Format, ...] = (Format.ONNX,)


def export_iteration(task: ExportTask) -> str:
    """fp32 + int8 of one pruning iteration into its bundle folder; the folder."""
    export_bundle(task.model, Path(task.bundle), ExportSpec(precisions=(Precision.FP32, Precision.INT8),
                                                            formats=task.formats),
                  checkpoint=task.checkpoint, data=task.data, overwrite=True, log=lambda line: None)
    return task.bundle


def run_study(folder: Path, out: Path, *, formats=None, threads: int = 1, min_seconds: float = 1.0,
              max_drop: Optional[float] = None, log: Callable[[str], None] = print,
              executor: str = "local", progress: Optional[Progress] = None) -> List[Dict]:
    """Exports run on `executor` ('local', 'process:N', 'ray[:ADDRESS]'), several at once; the measurements
    on this machine then run one at a time, so that no two timings share its cores. `max_drop` (pp): also
    name the smallest and fastest artifact of any iteration within that drop of the unpruned fp32 accuracy,
    written to the study's JSON and Markdown. Each stage's seconds are printed through `progress` (default: as
    lines on `log`) and recorded in the JSON's `stage_times`."""
    progress = progress if progress is not None else through(log)
    summary = read_summary(folder)
    method = run_label(summary["spec"])
    items = summary["iterations"]
    with progress.stage(f"exports ({len(items)} iterations)"):
        _export_all(summary, out, tuple(formats or (Format.ONNX,)), executor, log, progress)
    rows = [_measure(item, out, method, threads, min_seconds, log, progress) for item in items]
    answer = study_answer(rows, max_drop) if max_drop is not None else None
    with progress.stage("table, CSV and plot"):
        write_text(out / "pruning-study.md", markdown(rows, answer))
        write_text(out / "pruning-study.csv", csv_text(rows))
        write_bytes(out / "pruning-study.png", plot(rows, summary["model"], method))
    write_json(out / "pruning-study.json", {"model": summary["model"], "method": method, "rows": rows,
                                            "budget": answer_dict(answer), "stage_times": progress.records()})
    return rows


def _bundle(out: Path, item: Dict) -> Path:
    return Path(out).absolute() / "bundles" / f"iteration-{item['iteration']:02d}"


def _absolute(path: Optional[str]) -> Optional[str]:
    return str(Path(path).absolute()) if path and Path(path).exists() else path


def _export_all(summary: Dict, out: Path, formats: Tuple[Format, ...], executor: str,
                log: Callable[[str], None], progress: Progress) -> None:
    items = summary["iterations"]
    tasks = [ExportTask(model=summary["model"], checkpoint=_absolute(item["file"]), data=_absolute(summary["data"]),
                        bundle=str(_bundle(out, item)), formats=formats) for item in items]
    names = [f"iteration {item['iteration']}" for item in items]
    failed = []
    with make_executor(executor) as runner, \
            progress.counter(total=len(tasks), desc="exports", unit="bundle") as advance:
        log(f"exporting {len(tasks)} iterations on {runner.describe()}")
        for outcome in follow(runner.map(export_iteration, tasks, names=names), total=len(tasks),
                              slots=runner.slots, note=log, what="export of"):
            advance()
            if not stop_on_write_failure(outcome).ok:  # a full disk stops the exports: each would fail so
                failed.append(f"{outcome.name}: {outcome.error}")
    if failed:
        raise EdgebenchError(f"{len(failed)} of {len(tasks)} exports failed ({'; '.join(failed)})")


def _measure(item: Dict, out: Path, method: str, threads: int, min_seconds: float,
             log: Callable[[str], None], progress: Progress) -> Dict:
    bundle = _bundle(out, item)
    log(f"== iteration {item['iteration']}: {100 * item['achieved']:.1f} % ({method})")
    result_path = out / "results" / f"iteration-{item['iteration']:02d}.json"
    with progress.stage(f"measured on this machine (iteration {item['iteration']})"):
        run = run_agent_here(bundle, result_path, ["--threads", str(threads), "--min-seconds", str(min_seconds),
                                                   "--quiet"])
    if run.code != 0:
        raise EdgebenchError(f"the device agent failed on iteration {item['iteration']}: {run.last_line}")
    row = _row(item, read_manifest(bundle), read_result(result_path))
    log("  " + ", ".join(f"{title} {row[key]}" for key, title in COLUMNS[1:]))
    return row


def run_label(spec: Dict) -> str:
    """`l1-unstructured`, `taylor-channel`: a run's importance and method (a summary written before importances
    were chosen apart names its method alone)."""
    return f"{spec['importance']}-{spec['method']}" if spec.get("importance") else str(spec.get("method"))


def _row(item: Dict, manifest: Dict, result: Dict) -> Dict:
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    runs = {r["artifact"]: r for r in result["runs"]}

    def mib(name: str, key: str) -> Optional[float]:
        return round(artifacts[name][key] / 2**20, 4) if name in artifacts else None

    def accuracy(name: str) -> Optional[float]:
        run = runs.get(name)
        return round(100 * run["accuracy"]["top1"], 2) if run and run.get("accuracy") else None

    for name in ("onnx-fp32", "onnx-int8"):
        if name not in runs:
            raise EdgebenchError(f"iteration {item['iteration']}: the agent's result has no run of {name}")
        if runs[name]["error"]:
            raise EdgebenchError(f"iteration {item['iteration']}: {name} failed on the device: {runs[name]['error']}")
    return {"iteration": item["iteration"], "sparsity": round(100 * item["achieved"], 2), "params": item["params"],
            "macs": round(item["macs"] / 1e6, 3), "fp32_accuracy": accuracy("onnx-fp32"),
            "int8_accuracy": accuracy("onnx-int8"), "fp32_mib": mib("onnx-fp32", "bytes"),
            "fp32_gzip_mib": mib("onnx-fp32", "gzip_bytes"), "int8_mib": mib("onnx-int8", "bytes"),
            "int8_gzip_mib": mib("onnx-int8", "gzip_bytes"),
            "fp32_p50_ms": runs["onnx-fp32"]["latency_ms"]["p50"], "int8_p50_ms": runs["onnx-int8"]["latency_ms"]["p50"]}


def study_answer(rows: Sequence[Dict], max_drop: float) -> BudgetAnswer:
    """Against the unpruned model's fp32 accuracy: the smallest (gzip MiB, as unstructured pruning shrinks
    only the compressed file) and the fastest (p50) of every iteration's fp32 and int8 artifact."""
    dense = next((row for row in rows if row["iteration"] == 0), None)
    candidates = [Candidate(name=f"iteration {row['iteration']} {precision}", accuracy=row[f"{precision}_accuracy"],
                            size=row[f"{precision}_gzip_mib"], latency=row[f"{precision}_p50_ms"])
                  for row in rows for precision in ("fp32", "int8")]
    return answer_within_budget(reference_accuracy=dense["fp32_accuracy"] if dense else None, candidates=candidates,
                                max_drop_pp=max_drop)


def answer_dict(answer: Optional[BudgetAnswer]) -> Optional[Dict]:
    if answer is None:
        return None
    return {"max_drop_pp": answer.max_drop_pp, "reference_accuracy": answer.reference_accuracy,
            "smallest": answer.smallest and answer.smallest.name, "fastest": answer.fastest and answer.fastest.name,
            "withheld": answer.withheld}


def answer_lines(answer: BudgetAnswer) -> List[str]:
    against = f"within {answer.max_drop_pp:g} pp of the unpruned fp32 ({answer.reference_accuracy} %)"
    if answer.withheld:
        return [f"{against}: no answer: {answer.withheld}"]
    return [f"smallest {against}: {answer.smallest.name} ({answer.smallest.size} MiB gzip, "
            f"{answer.smallest.accuracy} %)" if answer.smallest else f"smallest {against}: none",
            f"fastest {against}: {answer.fastest.name} ({answer.fastest.latency} ms p50, {answer.fastest.accuracy} %)"
            if answer.fastest else f"fastest {against}: none"]


def markdown(rows: List[Dict], answer: Optional[BudgetAnswer] = None) -> str:
    lines = markdown_table([title for _, title in COLUMNS], ([row[key] for key, _ in COLUMNS] for row in rows))
    return with_notes(lines, answer_lines(answer) if answer is not None else [])


def csv_text(rows: Sequence[Dict]) -> str:
    return table_csv([key for key, _ in COLUMNS], rows)


def plot(rows: List[Dict], model: str, method: str) -> bytes:
    import matplotlib  # the plots extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # matplotlib: optional, loaded only when a figure is drawn

    sparsity = [r["sparsity"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].plot(sparsity, [r["fp32_accuracy"] for r in rows], "o-", label="fp32")
    axes[0].plot(sparsity, [r["int8_accuracy"] for r in rows], "s-", label="int8")
    axes[0].set_ylabel("top-1 accuracy (%)")
    for key, style, label in (("fp32_mib", "o-", "fp32 raw"), ("fp32_gzip_mib", "o--", "fp32 gzip"),
                              ("int8_mib", "s-", "int8 raw"), ("int8_gzip_mib", "s--", "int8 gzip")):
        axes[1].plot(sparsity, [r[key] for r in rows], style, label=label)
    axes[1].set_ylabel("size (MiB)")
    axes[2].plot(sparsity, [r["fp32_p50_ms"] for r in rows], "o-", label="fp32")
    axes[2].plot(sparsity, [r["int8_p50_ms"] for r in rows], "s-", label="int8")
    axes[2].set_ylabel("p50 latency (ms)")
    for ax in axes:
        ax.set_xlabel("pruned (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{model}: {method} pruning")
    return figure_png(fig, dpi=110)
