"""A/A and A/B check of the agent's comparisons, through the real agent CLI.

A/A: the fp32 ONNX artifact measured as two configurations (`--artifacts onnx-fp32,onnx-fp32`, the second is
`onnx-fp32#2`): the two must come out "indistinguishable" (target: at least 19 of 20 repetitions).
A/B: fp32 against int8 ONNX of the same model: the comparison must separate them (target: at least 19 of 20).
A/A and A/B runs alternate, so the machine's slow swings hit both alike.

    python bench/latency_ab.py [--model resnet8] [--repeats 20] [--rounds 10] [--min-seconds 3] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, ROOT, run_agent, table, timed  # noqa: E402

sys.path.insert(0, str(ROOT))
from device_agent import stats  # noqa: E402


def measure(bundle: Path, artifacts: str, out: Path, args: argparse.Namespace) -> Dict:
    return run_agent(bundle, out, ["--artifacts", artifacts, "--rounds", str(args.rounds), "--no-accuracy",
                                   "--warmup-seconds", "0.5", "--min-seconds", str(args.min_seconds), "--quiet"])


def outcome(result: Dict, first: str, second: str) -> Dict:
    """`second` against `first` over paired rounds, and the agent's own verdict on the pair."""
    runs = {run.get("config") or run["artifact"]: run for run in result["runs"]}
    if runs[first]["error"] or runs[second]["error"]:
        raise SystemExit(f"a configuration failed: {runs[first]['error'] or runs[second]['error']}")
    ratio = stats.ratio_ci(runs[first]["rounds_ms"], runs[second]["rounds_ms"])
    comparison = result["comparison"]
    return {"ratio": ratio[0], "width": ratio[2] - ratio[1], "verdict": stats.verdict(ratio),
            "separated": comparison["separated"],
            "stability": [runs[name]["stability"]["verdict"] for name in (first, second)]}


def summary_row(name: str, outcomes: List[Dict]) -> List[str]:
    count = len(outcomes)
    separated = sum(o["separated"] for o in outcomes)
    return [name, str(count), f"{count - separated}/{count}", f"{separated}/{count}",
            f"{statistics.median(o['ratio'] for o in outcomes):.3f}",
            f"{statistics.median(o['width'] for o in outcomes):.3f}",
            f"{min(o['ratio'] for o in outcomes):.3f}-{max(o['ratio'] for o in outcomes):.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--min-seconds", type=float, default=3.0, help="timed seconds per configuration and run")
    parser.add_argument("--bundle", type=Path, help="an existing bundle with onnx-fp32 and onnx-int8 (default: export)")
    parser.add_argument("--keep", type=Path, help="also keep every result JSON in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgebench-latency-ab-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        bundle = args.bundle or Path(tmp) / "bundle"
        if args.bundle is None:
            seconds = timed([str(BIN / "edgebench"), "export", "--int8", args.model, "--format", "onnx", "--out",
                             str(bundle)])
            print(f"exported {args.model} fp32 + int8 ONNX in {seconds:.0f} s")
        same, different = [], []
        started = time.perf_counter()
        for index in range(args.repeats):
            aa = measure(bundle, "onnx-fp32,onnx-fp32", work / f"aa{index:02d}.json", args)
            same.append(outcome(aa, "onnx-fp32", "onnx-fp32#2"))
            ab = measure(bundle, "onnx-fp32,onnx-int8", work / f"ab{index:02d}.json", args)
            different.append(outcome(ab, "onnx-fp32", "onnx-int8"))
            print(f"{index + 1:2d}/{args.repeats}  A/A {same[-1]['ratio']:.3f} {same[-1]['verdict']:<17}  "
                  f"A/B {different[-1]['ratio']:.3f} {different[-1]['verdict']:<17}  "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\n## A/A and A/B through the agent ({args.model}, {args.repeats} repetitions, {args.rounds} interleaved "
          f"rounds, --min-seconds {args.min_seconds:g}, 1 thread, margin {stats.MIN_EFFECT:.0%})\n")
    print(table(["comparison", "runs", "indistinguishable", "separated", "median ratio", "median CI width",
                 "ratio range"],
                [summary_row("A/A onnx-fp32#2 / onnx-fp32", same),
                 summary_row("A/B onnx-int8 / onnx-fp32", different)]))
    verdicts = [v for o in same + different for v in o["stability"]]
    print(f"\nstability verdicts over {len(verdicts)} configurations: "
          + ", ".join(f"{name} {verdicts.count(name)}" for name in ("stable", "noisy", "throttled", "too-short")
                      if verdicts.count(name)))
    aa_ok = sum(not o["separated"] for o in same) >= round(0.95 * args.repeats)
    ab_ok = sum(o["separated"] for o in different) >= round(0.95 * args.repeats)
    print(f"A/A target (>= 95 % indistinguishable): {'met' if aa_ok else 'NOT met'}; "
          f"A/B target (>= 95 % separated): {'met' if ab_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
