"""`edgebench optimize` against the exhaustive grid: does the search find the grid's best (or one the data cannot
tell from it), and with what share of the grid's device seconds?

Two parts:
- simulated: the search against the simulated device (a known latency table with noise) over N seeds: how often it
  finds the optimum (within the verdicts' 2 % margin, or one the confirmation could not tell apart and truly
  within 5 %), and its device seconds against measuring every configuration with the confirmation's long runs;
- local: the real command on this machine (`--device local`) for each model, then the exhaustive grid of the same
  candidates (every host survivor x every setting) measured in one long interleaved run with the confirmation's
  protocol; the winner is compared with the grid's best in that run (paired ratio and verdict).

    python bench/optimize.py [--seeds 100] [--models int8-test,variant13] [--variant13-checkpoint CKPT]
                             [--max-drop 1] [--formats onnx,tflite] [--out bench-results/optimize] [--no-local]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, table  # noqa: E402

MODELS = {
    "int8-test": dict(model="tests.int8.model:outlier_cnn", data=str(SHARED / "fashion-mnist"), channels=1,
                      input_size=28),
    "variant13": dict(model="resnet101-v13", data=str(SHARED / "tiny-imagenet-10")),
}


def simulated(seeds: int) -> List[str]:
    import numpy as np

    from edgebench.optimize.space import setting_key
    from edgebench.optimize.simulated import true_best
    from tests.test_optimize_search import exhaustive_seconds, run_search

    found, shares = 0, []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            table_, device, entries, decision = run_search(Path(tmp), seed)
            name, _, best_ms = true_best(table_)
            chosen_ms = table_[decision.winner].latencies_ms[setting_key(decision.setting)]
            apart = entries[name]["reason"] != "indistinguishable"
            found += chosen_ms <= best_ms * 1.02 or (not apart and chosen_ms <= best_ms * 1.05)
            shares.append(device.spent / exhaustive_seconds(table_))
    seconds = time.perf_counter() - started
    return [f"{seeds}", f"{100 * found / seeds:.0f} %", f"{100 * float(np.median(shares)):.1f} %",
            f"{100 * max(shares):.1f} %", f"{seconds:.1f}"]


def local(name: str, settings: Dict, max_drop: float, out: Path, formats=("onnx", "tflite"),
          checkpoint=None) -> List[str]:
    from edgebench import progress as progress_module
    from edgebench.optimize.host import ModelInput
    from edgebench.optimize.run import OptimizeSpec, run_optimize
    from edgebench.optimize.space import Space

    # The command's own defaults: both formats, every precision, threads 1 to the cores, XNNPACK on and off, the
    # three graph optimisation levels (a narrower space is `--formats onnx`).
    space = Space(formats=formats, threads=tuple(range(1, (os.cpu_count() or 1) + 1)), xnnpack=(True, False),
                  graph_optimizations=("all", "basic", "disable"))
    source = ModelInput(checkpoint=checkpoint, eval_size=500, calibration_size=128, **settings)
    folder = out / name
    for stale in ("cache/device", "grid", "winner"):  # the device is measured afresh; the host exports are kept
        shutil.rmtree(folder / stale, ignore_errors=True)
    progress = progress_module.Progress(enabled=False)
    started = time.perf_counter()
    outcome = run_optimize(OptimizeSpec(source=source, max_drop=max_drop, budget_s=1800, space=space, out=folder),
                           progress)
    wall = time.perf_counter() - started
    report = outcome.report
    grid = exhaustive_grid(folder, report, space)
    stages = {r["stage"]: r["seconds"] for r in report["stages"] if not r.get("depth")}
    speed = report["decision"]["speedup"]
    winner = next(c for c in report["candidates"] if c["reason"] == "winner")
    full = "; ".join(f"{c['format']}: {c['reason']} ({-c['host']['drop_pp']:+.1f} pp)" for c in report["candidates"]
                     if c["precision"] == "int8" and c.get("host")) or "-"
    return [name, winner["name"], report["decision"]["setting"] and _short(report["decision"]["setting"]),
            f"{speed['ratio']:.2f} [{speed['ratio_ci95'][0]:.2f}, {speed['ratio_ci95'][1]:.2f}]" if speed else "-",
            f"{-winner['host']['drop_pp']:+.1f}", f"{winner['bytes'] / 2**20:.2f}",
            full,
            grid["verdict"], f"{report['device_seconds']['spent']:.0f}", f"{grid['seconds']:.0f}",
            f"{100 * report['device_seconds']['spent'] / grid['seconds']:.0f} %",
            f"{stages.get('host', 0):.0f} / {stages.get('device', 0):.0f}", f"{wall:.0f}"]


def _short(setting: Dict) -> str:
    return f"{setting['threads']}t {setting.get('ort_graph_optimization') or ('xnn' if setting.get('xnnpack') else '')}"


def exhaustive_grid(folder: Path, report: Dict, space) -> Dict:
    """Every host survivor x every setting in one long interleaved run; the winner against the grid's best."""
    from edgebench.devices.measure import MeasureSettings, measure, open_device
    from edgebench.optimize import stats as figures
    from edgebench.optimize.ledger import CONFIRMATION

    names = [c["name"] for c in report["candidates"] if c["reason"] not in ("duplicate", "accuracy-drop",
                                                                            "export-refused")]
    settings = [s for fmt in space.formats for s in space.settings_for(fmt)]
    done = measure(folder / "candidates", open_device("local"), MeasureSettings(
        agent_args=tuple(CONFIRMATION.agent_args(settings)), artifacts=tuple(names), results=folder / "grid"),
        log=lambda line: None, keep_failed=True)
    configs, _ = figures.configs_of(done.result)
    best = min(configs, key=lambda c: c.median_ms)
    decision = report["decision"]
    from device_agent.configs import Setting

    chosen = figures.find(configs, decision["winner"], Setting(**decision["setting"]))
    verdict = "the grid's best" if chosen == best else figures.against(best, chosen)["verdict"]
    return {"seconds": done.device_seconds, "verdict": verdict}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--models", default="int8-test")
    parser.add_argument("--variant13-checkpoint")
    parser.add_argument("--max-drop", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "optimize")
    parser.add_argument("--no-local", action="store_true")
    parser.add_argument("--formats", default="onnx,tflite", help="the formats searched (default: both)")
    args = parser.parse_args()
    print(table(["seeds", "optimum found", "median share of grid", "max share of grid", "wall s"],
                [simulated(args.seeds)]))
    if args.no_local:
        return
    rows = []
    for name in args.models.split(","):
        checkpoint = args.variant13_checkpoint if name == "variant13" else None
        rows.append(local(name, MODELS[name], args.max_drop, args.out, tuple(args.formats.split(",")), checkpoint))
    print()
    print(table(["model", "winner", "setting", "speed-up vs fp32 [95 %]", "drop pp", "MiB", "full int8",
                 "against the grid", "device s", "grid device s", "share", "host / device wall s", "wall s"], rows))


if __name__ == "__main__":
    main()
