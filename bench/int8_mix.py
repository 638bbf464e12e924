"""Accuracy-aware int8 on the study's ResNet-101 variants and the int8 test model: what full int8 loses, what the
chosen mix loses, how many layers it keeps in float, the artifacts' sizes and p50 latencies on this machine,
and how long the search took.

Per model, two bundles through the real CLI: `edgebench export MODEL --int8 --max-drop PP` (fp32 and the chosen
int8) and `edgebench export MODEL --int8` with the gate opened (today's full int8, for its latency and size).
Latency: the device agent (`python -m device_agent run`) on each bundle, interleaved rounds, one thread. The
accuracy figures are the manifest's (the eval set against the fp32 artifact).

    python bench/int8_mix.py [--variants 6,10,13,14] [--checkpoints bench-results/int8-mix-train/checkpoints]
                             [--max-drop 1] [--formats onnx] [--test-model-formats onnx,tflite]
                             [--out bench-results/int8-mix] [--no-test-model]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, agent_command, env, read_manifest, read_result, table  # noqa: E402

HEADER = ["model", "format", "decision", "full int8 drop pp", "mix drop pp", "float layers",
          "size fp32 / full / mix MiB", "p50 fp32 / full / mix ms", "mix vs fp32", "search s", "export s"]


def run(command: List[str], log: Path) -> float:
    started = time.perf_counter()
    with open(log, "w") as sink:
        code = subprocess.run(command, cwd=ROOT, env=env(), stdout=sink, stderr=subprocess.STDOUT).returncode
    if code not in (0, 3):  # 3: an artifact was refused, recorded in the manifest
        raise SystemExit(f"failed ({code}): {' '.join(command)} (log: {log})")
    return time.perf_counter() - started


def export(model: str, extra: List[str], out: Path, formats: str, max_drop: Optional[float]) -> float:
    command = [sys.executable, "-m", "edgebench", "export", model, *extra, "--int8", "--precisions", "fp32",
               "--format", formats, "--out", str(out), "--force"]
    if max_drop is None:  # today's full int8, whatever it loses: the gate must not drop it
        command += ["--min-int8-agreement", "0", "--max-int8-drop", "100"]
    else:
        command += ["--max-drop", f"{max_drop:g}"]
    return run(command, out.parent / f"{out.name}.log")


def latencies(bundle: Path, seconds: float) -> Dict[str, Dict]:
    out = bundle.parent / f"{bundle.name}-result.json"
    run(agent_command(str(bundle), str(out), ["--threads", "1", "--min-seconds", f"{seconds:g}", "--min-runs", "30",
                                             "--no-accuracy", "--quiet"]),
        bundle.parent / f"{bundle.name}-agent.log")
    document = read_result(out)
    return {r["artifact"]: r for r in document["runs"] if not r.get("error")}


def p50(run: Optional[Dict]) -> str:
    if not run:
        return "-"
    latency = run["latency_ms"]
    interval = latency.get("p50_ci95")
    return f"{latency['p50']:.2f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")


def measure(name: str, model: str, extra: List[str], out: Path, formats: str, max_drop: float,
            seconds: float) -> List[Dict]:
    out.mkdir(parents=True, exist_ok=True)
    mix_bundle, full_bundle = out / f"{name}-mix", out / f"{name}-full"
    export_seconds = export(model, extra, mix_bundle, formats, max_drop)
    export(model, extra, full_bundle, formats, None)
    mix_manifest, full_manifest = read_manifest(mix_bundle), read_manifest(full_bundle)
    mix_runs, full_runs = latencies(mix_bundle, seconds), latencies(full_bundle, seconds)
    rows = []
    for fmt in formats.split(","):
        fp32_name, int8_name = f"{fmt}-fp32", f"{fmt}-int8"
        entries = {a["name"]: a for a in mix_manifest["artifacts"] + mix_manifest.get("rejected", [])}
        full_entries = {a["name"]: a for a in full_manifest["artifacts"]}
        mix = entries.get(int8_name, {})
        record = (mix.get("quantization") or {}).get("mixed_precision") or {}
        chosen = record.get("chosen") or {}
        fp32_run, mix_run = mix_runs.get(fp32_name), mix_runs.get(int8_name)
        full_run = full_runs.get(int8_name)
        ratio = (f"{mix_run['latency_ms']['p50'] / fp32_run['latency_ms']['p50']:.2f}x"
                 if mix_run and fp32_run else "-")
        sizes = [entries.get(fp32_name, {}).get("bytes"), full_entries.get(int8_name, {}).get("bytes"),
                 mix.get("bytes")]
        rows.append({
            "model": name, "format": fmt, "status": record.get("status", "-"),
            "full_int8_drop_pp": (record.get("full_int8") or {}).get("drop_pp"),
            "mix_drop_pp": chosen.get("drop_pp"),
            "float_layers": chosen.get("float_layers"), "quantizable_layers": chosen.get("quantizable_layers"),
            "calibration": record.get("calibration"), "weights_only": record.get("weights_only"),
            "sizes_bytes": sizes, "p50_ms": [r["latency_ms"]["p50"] if r else None for r in (fp32_run, full_run,
                                                                                              mix_run)],
            "p50_cells": [p50(fp32_run), p50(full_run), p50(mix_run)], "ratio": ratio,
            "search_seconds": record.get("search_seconds"), "export_seconds": round(export_seconds, 1),
            "reason": mix.get("reason"),
        })
    return rows


def cells(row: Dict) -> List[str]:
    floats = (f"{len(row['float_layers'])} of {row['quantizable_layers']}" if row["float_layers"] is not None
              else "-")
    number = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    return [row["model"], row["format"], row["status"], number(row["full_int8_drop_pp"]), number(row["mix_drop_pp"]),
            floats, " / ".join("-" if b is None else f"{b / 2**20:.2f}" for b in row["sizes_bytes"]),
            " / ".join(row["p50_cells"]), row["ratio"], number(row["search_seconds"]), f"{row['export_seconds']:.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="6,10,13,14")
    parser.add_argument("--checkpoints", default="bench-results/int8-mix-train/checkpoints")
    parser.add_argument("--max-drop", type=float, default=1.0)
    parser.add_argument("--formats", default="onnx", help="onnx, or onnx,tflite (TFLite's int8 conversion of a "
                        "ResNet-101 takes minutes per trial)")
    parser.add_argument("--test-model-formats", default="onnx,tflite")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per artifact")
    parser.add_argument("--out", default="bench-results/int8-mix")
    parser.add_argument("--no-test-model", action="store_true")
    args = parser.parse_args()
    out = (ROOT / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows: List[Dict] = []
    if not args.no_test_model:
        from tests.int8.model import fp32_onnx

        path = fp32_onnx(out / "int8-test-model.onnx")
        rows += measure("int8-test-model", str(path), ["--data", str(SHARED / "fashion-mnist")], out,
                        args.test_model_formats, args.max_drop, args.seconds)
        print(table(HEADER, [cells(r) for r in rows]), flush=True)
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        name = f"resnet101-v{variant}"
        checkpoint = (ROOT / args.checkpoints / f"{name}.pt").resolve()
        if not checkpoint.is_file():
            print(f"skipped {name}: no checkpoint {checkpoint}", flush=True)
            continue
        rows += measure(name, name, ["--checkpoint", str(checkpoint)], out, args.formats, args.max_drop,
                        args.seconds)
        print(table(HEADER, [cells(r) for r in rows]), flush=True)
        (out / "int8-mix.json").write_text(json.dumps(rows, indent=1))
    (out / "int8-mix.json").write_text(json.dumps(rows, indent=1))
    print(table(HEADER, [cells(r) for r in rows]))


if __name__ == "__main__":
    main()
