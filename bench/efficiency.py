"""How far each model runs from this machine's attainable GMAC/s: each model exported (fp32 and int8, ONNX and
TFLite, untrained weights: latency does not depend on them), measured by the agent, which times the bundle's
probes (a 3x3 convolution 128->128 at 28x28 in each format and precision) once per run; prints the report's
efficiency table (model MACs / p50, the probe's peak, the share and the bound).

    python bench/efficiency.py [--models resnet8,resnet101-v6] [--formats onnx,tflite] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_agent, table  # noqa: E402

from edgebench.export.pipeline import export_bundle  # noqa: E402
from edgebench.export.spec import ExportSpec, Format, Precision  # noqa: E402
from edgebench.report import efficiency  # noqa: E402
from edgebench.report.load import LoadedResult  # noqa: E402

KEEP = ("onnx-fp32", "onnx-int8", "tflite-int8")


def measure(model: str, formats, threads: int, work: Path):
    bundle = work / model
    spec = ExportSpec(precisions=(Precision.FP32, Precision.INT8), formats=formats, eval_size=16)
    export_bundle(model, bundle, spec, log=lambda line: None)
    result = run_agent(bundle, work / f"{model}.json", ["--threads", str(threads), "--no-accuracy", "--rounds", "5",
                                                        "--min-runs", "40", "--min-seconds", "1",
                                                        "--artifacts", ",".join(
                                                            name for name in KEEP
                                                            if Format(name.split("-")[0]) in formats)])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="resnet8")
    parser.add_argument("--formats", default="onnx,tflite")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    formats = tuple(Format(name) for name in args.formats.split(","))
    rows, notes = [], set()
    with tempfile.TemporaryDirectory(prefix="edgebench-efficiency-") as tmp:
        for model in args.models.split(","):
            result = measure(model, formats, args.threads, Path(tmp))
            entries = efficiency.rows([LoadedResult(path=Path(tmp) / f"{model}.json", document=result)])
            for probe in result["device"].get("probes", []):
                notes.add(f"probe {probe['name']} ({probe.get('threads')} thread(s)): "
                          + (f"{probe['gmacs']:.1f} GMAC/s, p50 {probe['p50_ms']:.3f} ms" if "gmacs" in probe
                             else probe.get("error", "?")))
            for entry in entries:
                rows.append([entry.model, entry.config, f"{entry.macs / 1e6:.1f}", f"{entry.p50_ms:.3f}",
                             f"{entry.achieved_gmacs:.2f}", f"{entry.peak_gmacs:.1f}" if entry.peak_gmacs else "-",
                             f"{100 * entry.share:.0f} %" if entry.share is not None else "-", entry.bound or "-"])
            print(f"done {model}", file=sys.stderr, flush=True)
    print(table(["model", "artifact", "MMACs", "p50 ms", "GMAC/s", "peak GMAC/s", "share", "bound by"], rows))
    print()
    for note in sorted(notes):
        print(f"- {note}")


if __name__ == "__main__":
    main()
