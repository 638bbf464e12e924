"""A sustained run: one configuration run without pause for --seconds through the device agent
(`device_agent run BUNDLE --sustained SECONDS`), once a second recording latency, CPU temperature, frequency
and throttling; prints burst against sustained p50, the slowdown and the throttle onset, and writes the plot.

resnet8 by default: the model of the A/B check, about 1 ms per inference on one x86 core, so each one-second
interval holds hundreds of runs and a stable p50, without taking a shared machine's cores for ten minutes
(resnet101, at about 60 ms, would give 16 runs per interval).

    python bench/sustained.py [--model resnet8] [--bundle DIR] [--artifact onnx-fp32] [--seconds 600]
                              [--threads 1] [--plot docs/sustained-resnet8.png] [--result OUT.json]
    python bench/sustained.py --from-result OUT.json --plot PNG      # table and plot of an earlier run
    python bench/sustained.py --direct ...   # run_sustained in this process on ONNX Runtime, without the agent
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, ROOT, run_agent, table, timed  # noqa: E402

sys.path.insert(0, str(ROOT))


def agent_run(bundle: Path, artifact: str, seconds: float, threads: int, out: Path) -> dict:
    return run_agent(bundle, out, ["--artifacts", artifact, "--threads", str(threads), "--sustained", f"{seconds:g}",
                                   "--rounds", "2", "--min-seconds", "1", "--quiet"])


def direct_run(bundle: Path, artifact: str, seconds: float, threads: int) -> dict:
    """The same measurement without the agent: its ONNX Runtime backend and run_sustained in this process."""
    from device_agent.backends.onnxruntime_backend import OnnxRuntimeBackend
    from device_agent.bundle import load_bundle, load_eval, prepare_inputs
    from device_agent.device_info import device_facts
    from device_agent.sustained import run_sustained

    loaded = load_bundle(str(bundle))
    entry = next(a for a in loaded.artifacts if a["name"] == artifact)
    images, _ = load_eval(loaded, 1)
    backend = OnnxRuntimeBackend()
    backend.load(loaded.verified_path(entry), threads)
    single = backend.prepare(prepare_inputs(images, loaded.manifest["preprocess"], entry["input"]["layout"])[:1])
    for _ in range(20):
        backend.invoke(single)
    sustained = run_sustained(lambda: backend.invoke(single), seconds)
    return {"device": device_facts(), "bundle": {"model": loaded.manifest["model"]},
            "runs": [{"artifact": artifact, "config": f"{artifact} threads={threads} (direct)",
                      "sustained": sustained}]}


def report(document: dict, plot: Path, how: str) -> None:
    from edgebench.fileio import write_bytes
    from edgebench.report.sustained import label, onset_text, plot_png, row

    runs = [run for run in document["runs"] if run.get("sustained")]
    if not runs:
        raise SystemExit("the result holds no sustained run: " + "; ".join(
            f"{run.get('config') or run['artifact']}: {run.get('error') or 'no sustained field'}"
            for run in document["runs"]))
    for run in runs:
        sustained = run["sustained"]
        print(f"\n## Sustained run: {' '.join(label(document, run))}, {sustained['seconds']:.0f} s, {how}\n")
        print(table(["burst p50 ms", "sustained p50 ms", "slowdown", "throttle onset", "runs", "CPU temp C",
                     "CPU MHz"], [[f"{sustained['burst_p50_ms']:.4f}", f"{sustained['sustained_p50_ms']:.4f}",
                                   f"{sustained['slowdown']:.3f}x", onset_text(sustained), str(sustained["runs"]),
                                   *row(document, run)[-2:]]]))
        p50s = sorted(s["p50_ms"] for s in sustained["series"])
        print(f"\nper-second p50: min {p50s[0]:.4f}, median {p50s[len(p50s) // 2]:.4f}, max {p50s[-1]:.4f} ms over "
              f"{len(p50s)} intervals; burst = first {sustained['burst_seconds']:.0f} s, sustained = from "
              f"{sustained['sustained_from_s']:.0f} s")
    png = plot_png(runs[0], f"{' '.join(label(document, runs[0]))}: {runs[0]['sustained']['seconds']:.0f} s sustained "
                            f"({how})")
    write_bytes(plot, png)
    print(f"\nplot: {plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--bundle", type=Path, help="an existing bundle (default: export one with ONNX artifacts)")
    parser.add_argument("--artifact", default="onnx-fp32")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "sustained-resnet8.png")
    parser.add_argument("--result", type=Path, help="keep the agent's result JSON here")
    parser.add_argument("--from-result", type=Path, help="report an earlier result instead of measuring")
    parser.add_argument("--direct", action="store_true", help="run_sustained in this process, without the agent")
    args = parser.parse_args()
    if args.from_result:
        document = json.loads(args.from_result.read_text())
        report(document, args.plot, "device agent" if document.get("agent_version") else "run_sustained directly")
        return
    with tempfile.TemporaryDirectory(prefix="edgebench-sustained-") as tmp:
        work = Path(tmp)
        bundle = args.bundle or work / "bundle"
        if args.bundle is None:
            timed([str(BIN / "edgebench"), "export", args.model, "--format", "onnx", "--out", str(bundle)])
        started = time.monotonic()
        if args.direct:
            document, how = direct_run(bundle, args.artifact, args.seconds, args.threads), "run_sustained directly"
        else:
            out = args.result or work / "result.json"
            document, how = agent_run(bundle, args.artifact, args.seconds, args.threads, out), "device agent"
        print(f"measured in {time.monotonic() - started:.0f} s ({how}, {args.threads} thread(s))")
        report(document, args.plot, how)


if __name__ == "__main__":
    main()
