"""The study's pruning table carried to the device: for every pruning iteration, export fp32 and int8, run the
agent on this machine, and tabulate sparsity against accuracy, size (raw and gzip) and latency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

from edgebench.errors import EdgebenchError
from edgebench.fileio import write_bytes, write_json, write_text
from edgebench.prune.pipeline import read_summary

COLUMNS = [("iteration", "it"), ("sparsity", "sparsity %"), ("params", "params"), ("macs", "MMACs"),
           ("fp32_accuracy", "fp32 acc %"), ("int8_accuracy", "int8 acc %"), ("fp32_mib", "fp32 MiB"),
           ("fp32_gzip_mib", "fp32 gzip MiB"), ("int8_mib", "int8 MiB"), ("int8_gzip_mib", "int8 gzip MiB"),
           ("fp32_p50_ms", "fp32 p50 ms"), ("int8_p50_ms", "int8 p50 ms")]


def run_study(folder: Path, out: Path, *, formats=None, threads: int = 1, min_seconds: float = 1.0,
              log: Callable[[str], None] = print) -> List[Dict]:
    from edgebench.export.pipeline import export_bundle
    from edgebench.export.spec import ExportSpec, Format, Precision

    summary = read_summary(folder)
    rows = []
    for item in summary["iterations"]:
        bundle = out / "bundles" / f"iteration-{item['iteration']:02d}"
        log(f"== iteration {item['iteration']}: {100 * item['achieved']:.1f} % ({summary['spec']['method']})")
        export_bundle(summary["model"], bundle, ExportSpec(precisions=(Precision.FP32, Precision.INT8),
                                                           formats=formats or (Format.ONNX,)),
                      checkpoint=item["file"], data=summary["data"], overwrite=True, log=lambda line: None)
        result_path = out / "results" / f"iteration-{item['iteration']:02d}.json"
        done = subprocess.run([sys.executable, "-m", "device_agent", "run", str(bundle), "--out", str(result_path),
                               "--threads", str(threads), "--min-seconds", str(min_seconds), "--quiet"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise EdgebenchError(f"the device agent failed on iteration {item['iteration']}: "
                                 f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
        rows.append(_row(item, json.loads((bundle / "manifest.json").read_text()),
                         json.loads(result_path.read_text())))
        log("  " + ", ".join(f"{title} {rows[-1][key]}" for key, title in COLUMNS[1:]))
    write_json(out / "pruning-study.json", {"model": summary["model"], "method": summary["spec"]["method"],
                                            "rows": rows})
    write_text(out / "pruning-study.md", markdown(rows))
    write_text(out / "pruning-study.csv", "\n".join(
        [",".join(key for key, _ in COLUMNS)] + [",".join(str(r[key]) for key, _ in COLUMNS) for r in rows]) + "\n")
    write_bytes(out / "pruning-study.png", plot(rows, summary["model"], summary["spec"]["method"]))
    return rows


def _row(item: Dict, manifest: Dict, result: Dict) -> Dict:
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    runs = {r["artifact"]: r for r in result["runs"]}

    def mib(name: str, key: str) -> Optional[float]:
        return round(artifacts[name][key] / 2**20, 4) if name in artifacts else None

    def accuracy(name: str) -> Optional[float]:
        run = runs.get(name)
        return round(100 * run["accuracy"]["top1"], 2) if run and run.get("accuracy") else None

    return {"iteration": item["iteration"], "sparsity": round(100 * item["achieved"], 2), "params": item["params"],
            "macs": round(item["macs"] / 1e6, 3), "fp32_accuracy": accuracy("onnx-fp32"),
            "int8_accuracy": accuracy("onnx-int8"), "fp32_mib": mib("onnx-fp32", "bytes"),
            "fp32_gzip_mib": mib("onnx-fp32", "gzip_bytes"), "int8_mib": mib("onnx-int8", "bytes"),
            "int8_gzip_mib": mib("onnx-int8", "gzip_bytes"),
            "fp32_p50_ms": runs["onnx-fp32"]["latency_ms"]["p50"], "int8_p50_ms": runs["onnx-int8"]["latency_ms"]["p50"]}


def markdown(rows: List[Dict]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row[key]) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot(rows: List[Dict], model: str, method: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
