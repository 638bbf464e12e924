"""How much the device agent's harness adds, and how repeatable its numbers are.

1. The agent's timed loop against a bare loop of the runtime's own run call, interleaved in one process on the
   same session and input (ratio of medians; target at most 1.02).
2. Crash isolation: the whole agent (`device_agent run`, each configuration measured in a process of its own)
   against a bare `session.run` loop in a fresh process of its own, interleaved, each timed for the same
   seconds (ratio of the medians of the p50s; target at most 1.02).
3. The null backend: the harness's own cost per iteration.
4. Run-to-run variation: the whole agent run N times; spread of each artifact's p50.

    python bench/agent_overhead.py [--model resnet8] [--bundle DIR] [--rounds 7] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, ROOT, read_manifest, run_agent, table, timed  # noqa: E402

sys.path.insert(0, str(ROOT))
from device_agent.backends.null_backend import NullBackend  # noqa: E402
from device_agent.backends.onnxruntime_backend import OnnxRuntimeBackend  # noqa: E402
from device_agent.protocol import TimingSettings, timed_loop, warm_up  # noqa: E402


def bare_loop(session, feeds: dict, count: int) -> list:
    samples = []
    for _ in range(count):
        tick = time.perf_counter_ns()
        session.run(None, feeds)
        samples.append(time.perf_counter_ns() - tick)
    return samples


def harness_ratio(artifact: Path, rounds: int, runs: int) -> list:
    backend = OnnxRuntimeBackend()
    backend.load(str(artifact), 1)
    shape = [1 if d < 0 else d for d in backend.input_shape()]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    prepared = backend.prepare(x)
    settings = TimingSettings(warmup_runs=20, warmup_seconds=0.5, min_runs=runs, min_seconds=0.0, max_seconds=600)
    warm_up(lambda: backend.invoke(prepared), settings)
    agent, bare = [], []
    for _ in range(rounds):  # interleaved, so drift affects both alike
        agent.append(statistics.median(timed_loop(lambda: backend.invoke(prepared), settings)) / 1e6)
        bare.append(statistics.median(bare_loop(backend.session, {backend.input_name: prepared}, runs)) / 1e6)
    return [statistics.median(agent), statistics.median(bare)]


# A fresh interpreter: the agent's own session settings, then nothing but session.run between the clock reads.
BARE_PROCESS = """
import statistics, sys, time
import numpy as np
from device_agent.backends.onnxruntime_backend import OnnxRuntimeBackend
from device_agent.bundle import load_bundle, load_eval, prepare_inputs
bundle = load_bundle(sys.argv[1])
artifact = next(a for a in bundle.artifacts if a["name"] == sys.argv[2])
images, _ = load_eval(bundle, 1)
backend = OnnxRuntimeBackend()
backend.load(bundle.verified_path(artifact), 1)
feeds = {backend.input_name: prepare_inputs(images, bundle.manifest["preprocess"], artifact["input"]["layout"])}
run, names = backend.session.run, backend.output_names
seconds = float(sys.argv[3])
started = time.perf_counter()
while time.perf_counter() - started < 1.0:
    run(names, feeds)
samples = []
started = time.perf_counter_ns()
while time.perf_counter_ns() - started < seconds * 1e9:
    tick = time.perf_counter_ns()
    run(names, feeds)
    samples.append(time.perf_counter_ns() - tick)
print(statistics.median(samples) / 1e6)
"""


def isolation_ratio(bundle: Path, artifact: str, rounds: int, seconds: float, work: Path) -> list:
    """Medians over `rounds` of the agent's p50 and the bare process's p50, run alternately."""
    agent, bare = [], []
    for index in range(rounds):
        out = work / f"isolated{index}.json"
        result = run_agent(bundle, out, ["--artifacts", artifact, "--no-accuracy", "--warmup-seconds", "1",
                                         "--min-seconds", str(seconds), "--max-seconds", str(seconds), "--quiet"])
        agent.append(result["runs"][0]["latency_ms"]["p50"])
        done = subprocess.run([sys.executable, "-c", BARE_PROCESS, str(bundle), artifact, str(seconds)], check=True,
                              cwd=ROOT, capture_output=True, text=True)
        bare.append(float(done.stdout.split()[-1]))
    return [statistics.median(agent), statistics.median(bare), agent, bare]


def null_overhead(runs: int) -> float:
    backend = NullBackend()
    backend.load("", 1)
    settings = TimingSettings(warmup_runs=1000, warmup_seconds=0, min_runs=runs, min_seconds=0.0)
    samples = timed_loop(lambda: backend.invoke(None), settings)
    return statistics.median(samples) / 1e3  # microseconds


def repeatability(bundle: Path, repeats: int, work: Path) -> dict:
    p50 = {}
    for index in range(repeats):
        out = work / f"run{index}.json"
        for run in run_agent(bundle, out, ["--quiet", "--min-seconds", "2"])["runs"]:
            p50.setdefault(run["artifact"], []).append(run["latency_ms"]["p50"])
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bundle", type=Path, help="an existing bundle with ONNX artifacts (default: export one)")
    parser.add_argument("--isolated-seconds", type=float, default=3.0, help="timed seconds per isolated round")
    parser.add_argument("--only-isolation", action="store_true", help="run part 2 alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgebench-agent-bench-") as tmp:
        work = Path(tmp)
        bundle = args.bundle or work / "bundle"
        if args.bundle is None:
            timed([str(BIN / "edgebench"), "export", "--int8", args.model, "--format", "onnx", "--out", str(bundle)])
        manifest = read_manifest(bundle)
        onnx = [a for a in manifest["artifacts"] if a["format"] == "onnx"]
        model = manifest["model"]["name"]
        if not args.only_isolation:
            rows = []
            for artifact in onnx:
                agent, bare = harness_ratio(bundle / artifact["file"], args.rounds, args.runs)
                rows.append([f"{model} {artifact['name']}", f"{agent:.4f}", f"{bare:.4f}", f"{agent / bare:.4f}"])
            print(f"\n## Agent timing against a bare runtime loop ({args.rounds} interleaved rounds x {args.runs} "
                  "runs, 1 thread, medians)\n")
            print(table(["artifact", "agent p50 ms", "bare loop p50 ms", "ratio"], rows))
        rows = []
        for artifact in onnx:
            agent, bare, agents, bares = isolation_ratio(bundle, artifact["name"], args.rounds,
                                                         args.isolated_seconds, work)
            rows.append([f"{model} {artifact['name']}", f"{agent:.4f}", f"{bare:.4f}", f"{agent / bare:.4f}",
                         f"{min(agents) / min(bares):.4f}",
                         f"{statistics.median(a / b for a, b in zip(agents, bares)):.4f}",
                         f"{min(a / b for a, b in zip(agents, bares)):.3f}-"
                         f"{max(a / b for a, b in zip(agents, bares)):.3f}"])
        print(f"\n## Isolated agent (a process per configuration) against a bare session.run process "
              f"({args.rounds} alternating rounds, {args.isolated_seconds:g} s timed each, 1 thread)\n")
        print(table(["artifact", "agent p50 ms", "bare process p50 ms", "ratio of medians", "ratio of minima",
                     "median ratio per round", "range per round"], rows))
        if args.only_isolation:
            return
        print(f"\nnull backend: {null_overhead(200000):.3f} us per iteration (median of 200,000)")
        spread = repeatability(bundle, args.repeats, work)
        print(f"\n## Run-to-run variation ({args.repeats} whole agent runs, --min-seconds 2)\n")
        print(table(["artifact", "p50 ms per run", "median", "max/min", "CV %"], [
            [name, " ".join(f"{v:.4f}" for v in values), f"{statistics.median(values):.4f}",
             f"{max(values) / min(values):.3f}", f"{100 * statistics.pstdev(values) / statistics.mean(values):.2f}"]
            for name, values in spread.items()]))


if __name__ == "__main__":
    main()
