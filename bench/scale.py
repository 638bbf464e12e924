"""The ablation across executors: the same variants (1 epoch, small data) under `local`, `process:2` and
`ray` (a local cluster of 2 CPUs); wall time, speed-up, training time inside the tasks, what each task costs
besides training, the start-up of each executor and the round trip of a null task; the tables must be equal.
Then a Ray cluster of two 1-CPU nodes on this host with one node killed mid-run (2 epochs, so a resume shows):
time to finish, what ran again, and that no finished variant was retrained.

    python bench/scale.py [--arch vgg19] [--variants 7-10] [--epochs 1] [--limit 64] [--repeats 3] [--no-fault]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402

EXECUTORS = ("local", "process:2", "ray")
NULL_TASKS = 16


@dataclass(frozen=True, kw_only=True)
class Null:
    number: int


def null_task(task: Null) -> int:
    return task.number


def overhead(executor: str) -> Dict[str, float]:
    """Seconds to start the executor, and the round trip of one null task (a map of NULL_TASKS, after one
    warm-up map; process:N starts its pool in each map, so that is in its figure)."""
    from edgebench.executor import make_executor

    started = time.perf_counter()
    with make_executor(executor) as runner:
        list(runner.map(null_task, [Null(number=0)]))
        ready = time.perf_counter()
        list(runner.map(null_task, [Null(number=n) for n in range(NULL_TASKS)]))
        mapped = time.perf_counter()
    return {"start_s": ready - started, "null_ms": 1000 * (mapped - ready) / NULL_TASKS}


def ablation(executor: str, spec, out: Path) -> Dict:
    from edgebench.ablation import run_ablation

    started = time.perf_counter()
    table_ = run_ablation(spec, out, log=lambda line: print(f"  [{executor}] {line}", file=sys.stderr, flush=True),
                          executor=executor)
    wall = time.perf_counter() - started
    training = sum(row["train_seconds"] for row in table_.rows)
    slots = 1 if executor == "local" else 2
    return {"wall": wall, "training": training, "other_per_task": (wall * slots - training) / len(table_.rows),
            "markdown": (out / "ablation.md").read_text()}


def main() -> None:
    from edgebench.ablation import AblationSpec, select_variants
    from edgebench.train import TrainSpec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vgg19")
    parser.add_argument("--variants", default="7-10")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1, help="rounds of the sweep, the executors' order rotated "
                        "each round; medians are shown")
    parser.add_argument("--no-fault", action="store_true", help="skip the two-node run with a node killed")
    args = parser.parse_args()
    # This machine is shared: other people's memory must not make Ray's monitor kill our workers.
    os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")
    train = TrainSpec(epochs=args.epochs, batch_size=32, lr=0.05, train_limit=args.limit, augment=())
    spec = AblationSpec(arch=args.arch, variants=select_variants(args.arch, args.variants), train=train)
    scratch = Path(tempfile.mkdtemp(prefix="scale-"))
    try:
        rounds: Dict[str, List[Dict]] = {executor: [] for executor in EXECUTORS}
        for number in range(args.repeats):
            order = EXECUTORS[number % len(EXECUTORS):] + EXECUTORS[:number % len(EXECUTORS)]
            for executor in order:  # rotated, so that a change in the machine's load falls on each in turn
                out = scratch / f"{executor.replace(':', '-')}-{number}"
                rounds[executor].append({**overhead(executor), **ablation(executor, spec, out)})
        print_sweep({executor: _median(runs) for executor, runs in rounds.items()}, spec, args.repeats)
        if not args.no_fault:
            from dataclasses import replace

            fault(replace(spec, train=replace(train, epochs=2)), scratch / "fault")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _median(runs: List[Dict]) -> Dict:
    import statistics

    merged = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "markdown"}
    same = all(run["markdown"] == runs[0]["markdown"] for run in runs)
    return {**merged, "markdown": runs[0]["markdown"] if same else None, "walls": [run["wall"] for run in runs]}


def print_sweep(results: Dict[str, Dict], spec, repeats: int) -> None:
    local = results["local"]["wall"]
    rows = [[executor, f"{r['wall']:.1f}", f"{local / r['wall']:.2f}x", f"{r['training']:.1f}",
             f"{r['other_per_task']:.1f}", f"{r['start_s']:.1f}", f"{r['null_ms']:.0f}",
             "yes" if r["markdown"] is not None and r["markdown"] == results["local"]["markdown"] else "NO",
             " / ".join(f"{wall:.0f}" for wall in r["walls"])] for executor, r in results.items()]
    print(f"{len(spec.variants)} variants of {spec.arch} ({', '.join(spec.variants)}), {spec.train.epochs} epoch, "
          f"{spec.train.train_limit} training images, on {os.cpu_count()} cores; medians of {repeats} rounds\n")
    print(table(["executor", "wall s", "speed-up", "training s (sum)", "other s per task (CPU-slot)",
                 "executor start s", "null task ms", "same table as local", "each round's wall s"], rows))


def fault(spec, out: Path) -> None:
    """Two 1-CPU nodes; the worker node is removed once both running variants have finished epoch 1."""
    import ray
    from ray.cluster_utils import Cluster

    from edgebench.ablation import run_ablation

    quick = {"health_check_period_ms": 500, "health_check_failure_threshold": 3, "health_check_timeout_ms": 1000}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "_system_config": quick})
    worker = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    killed_at: List[float] = []
    watcher = threading.Thread(target=_kill_mid_epoch, args=(cluster, worker, out, killed_at), daemon=True)
    started = time.perf_counter()
    watcher.start()
    try:
        run_ablation(spec, out, log=lambda line: print(f"  [fault] {line}", file=sys.stderr, flush=True),
                     executor="ray")
        wall = time.perf_counter() - started
    finally:
        ray.shutdown()
        cluster.shutdown()
    print_fault(spec, out, wall, killed_at[0] - started if killed_at else None)


def _kill_mid_epoch(cluster, worker, out: Path, killed_at: List[float]) -> None:
    """Once a variant is finished and both running ones are past epoch 1 (or, if the timing never gives that,
    two are finished and one is past epoch 1): the finished ones must not run again, the lost one resumes."""
    while True:
        states = list((out / "checkpoints").glob("*.state")) if (out / "checkpoints").is_dir() else []
        finished = list((out / "variants").glob("*.json")) if (out / "variants").is_dir() else []
        if (len(finished) >= 1 and len(states) >= 2) or (len(finished) >= 2 and len(states) >= 1):
            records = {record.name: record.stat().st_mtime_ns for record in finished}
            (out / "killed-with-finished.json").write_text(json.dumps(records))
            cluster.remove_node(worker, allow_graceful=False)
            killed_at.append(time.perf_counter())
            return
        time.sleep(0.1)


def print_fault(spec, out: Path, wall: float, killed_after) -> None:
    finished_before = json.loads((out / "killed-with-finished.json").read_text())
    rows = []
    for name in spec.variants:
        log = (out / "logs" / f"{name}.log").read_text()
        starts, epochs = log.count("\n== ") + log.startswith("== "), log.count(f"/{spec.train.epochs}  loss")
        resumed = "yes" if "resuming from" in log else "no"
        record = out / "variants" / f"{name}.json"
        untouched = f"{name}.json" in finished_before and finished_before[f"{name}.json"] == record.stat().st_mtime_ns
        rows.append([name, str(starts), str(epochs), resumed,
                     "finished before the kill, not touched" if untouched else "-"])
    print(f"\ntwo Ray nodes of 1 CPU on this host, {len(spec.variants)} variants x {spec.train.epochs} epochs; the "
          f"worker node killed after {killed_after:.1f} s, with {len(finished_before)} variant(s) finished; all "
          f"finished in {wall:.1f} s\n")
    print(table(["variant", "runs", "epochs trained", "resumed from its state", "record"], rows))


if __name__ == "__main__":
    main()
