"""TFLite export: edgebench's path against a plain `onnx2tf -oiqt` run, and every precision side by side.

Part 1 (speed): wall time of `edgebench export --int8 MODEL` (fp32 + int8 ONNX and int8 TFLite, each verified
on the eval set) against `onnx2tf -i model.fp32.onnx -oiqt` until its full-integer .tflite exists, on the
same fp32 ONNX, one after the other on this machine.
Part 2 (table): a model trained briefly on Fashion-MNIST exported to fp32/int8 ONNX and fp32/fp16/dynamic/int8
TFLite; size, accuracy, and p50 latency on 1 thread and on all cores from the device agent.

    python bench/tflite_export.py [--model resnet101] [--skip-speed] [--skip-table]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, SHARED, agent_command, read_manifest, read_result, table, timed  # noqa: E402


def speed(model: str, work: Path) -> None:
    ours = timed([str(BIN / "edgebench"), "export", "--int8", model, "--out", str(work / "ours"), "--force"],
                 log=work / "ours.log")
    onnx_path = work / "ours" / "model.fp32.onnx"
    plain = work / "plain"
    plain.mkdir()
    shutil.copy(onnx_path, plain / "model.onnx")
    # onnx2tf downloads sample calibration images unless they are in its working folder: give it ours.
    from edgebench.export.tflite.convert import ONNX2TF_SAMPLE_FILE

    import numpy as np

    rng = np.random.default_rng(0)
    np.save(plain / ONNX2TF_SAMPLE_FILE, rng.random((20, 128, 128, 3), dtype=np.float32))
    baseline = timed([str(BIN / "onnx2tf"), "-i", "model.onnx", "-o", "out", "-oiqt"], cwd=plain,
                     wait_for=plain / "out" / "model_full_integer_quant.tflite", log=work / "plain.log")
    print(f"\n## Export speed: {model} (this machine, {os.cpu_count()} cores)\n")
    print(table(["path", "what it writes", "seconds"], [
        ["plain `onnx2tf -oiqt` (until the int8 file exists)", "fp32, fp16, dynamic, int8 .tflite", f"{baseline:.1f}"],
        ["`edgebench export --int8`", "fp32 + int8 ONNX, int8 TFLite, all verified", f"{ours:.1f}"],
        ["ratio", "", f"{baseline / ours:.2f}x faster"],
    ]))
    stages = read_manifest(work / "ours").get("stage_times") or []
    print(f"\n### Where edgebench's {ours:.1f} s went (the manifest's stage times)\n")
    print(table(["stage", "seconds"], [["  " * s.get("depth", 0) + s["stage"]
                                        + (" (beside the ONNX stages)" if s.get("elsewhere") else ""),
                                        f"{s['seconds']:.1f}"] for s in stages]))


def precision_table(work: Path) -> None:
    data = SHARED / "fashion-mnist"
    if not data.exists():
        print(f"skipping the precision table: {data} is absent")
        return
    checkpoint = work / "resnet8.pt"
    train_seconds = timed([str(BIN / "edgebench"), "train", "resnet8", "--data", str(data), "--epochs", "3",
                           "--limit", "12000", "--batch-size", "64", "--lr", "0.05", "--augment", "crop",
                           "--out", str(checkpoint)], log=work / "train.log")
    bundle = work / "bundle"
    export_seconds = timed([str(BIN / "edgebench"), "export", "resnet8", "--checkpoint", str(checkpoint),
                            "--precisions", "fp32,fp16,dynamic,int8", "--out", str(bundle), "--force"],
                           log=work / "export.log")
    manifest = read_manifest(bundle)
    latency = {}
    for threads in (1, os.cpu_count()):
        out = work / f"r{threads}.json"
        timed(agent_command(str(bundle), str(out), ["--threads", str(threads), "--min-seconds", "3"]),
              log=work / f"agent{threads}.log")
        for run in read_result(out)["runs"]:
            latency[(run["artifact"], threads)] = run["latency_ms"]["p50"]
    rows = []
    for artifact in manifest["artifacts"]:
        name = artifact["name"]
        rows.append([name, f"{artifact['bytes'] / 2**20:.3f}", f"{100 * artifact['check']['accuracy']:.2f}",
                     f"{100 * artifact['check']['top1_agreement']:.2f}", f"{latency[(name, 1)]:.3f}",
                     f"{latency[(name, os.cpu_count())]:.3f}", f"{artifact['export_seconds']:.1f}"])
    print(f"\n## Precisions side by side: resnet8 on Fashion-MNIST ({manifest['eval']['count']} test images; "
          f"training {train_seconds:.0f} s, whole export {export_seconds:.0f} s)\n")
    print(table(["artifact", "MiB", "accuracy %", "agreement %", "p50 ms 1 thr",
                 f"p50 ms {os.cpu_count()} thr", "export s"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet101")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-table", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edgebench-bench-"))
    try:
        if not args.skip_table:
            precision_table(work)
        if not args.skip_speed:
            speed(args.model, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
