"""Pruning on real data: accuracy against sparsity (fp32 and int8), and what structured pruning buys in
latency and size, measured by the device agent on this machine.

    python bench/prune_study.py [--epochs 3] [--iterations 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, SHARED, table, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--limit", type=int, default=12000)
    args = parser.parse_args()
    data = SHARED / "fashion-mnist"
    if not data.exists():
        raise SystemExit(f"{data} is absent: this benchmark needs the shared Fashion-MNIST files")
    work = Path(tempfile.mkdtemp(prefix="edgebench-prune-bench-"))
    try:
        checkpoint = work / f"{args.model}.pt"
        timed([str(BIN / "edgebench"), "train", args.model, "--data", str(data), "--epochs", str(args.epochs),
               "--limit", str(args.limit), "--batch-size", "64", "--lr", "0.05", "--augment", "crop",
               "--out", str(checkpoint)], log=work / "train.log")
        finetune = ["--finetune-epochs", "1", "--limit", "6000", "--lr", "0.001"]
        timed([str(BIN / "edgebench"), "prune", args.model, "--checkpoint", str(checkpoint), "--iterations",
               str(args.iterations), "--out", str(work / "l1"), *finetune], log=work / "l1.log")
        timed([str(BIN / "edgebench"), "prune-study", str(work / "l1"), "--out", str(work / "l1-study")],
              log=work / "l1-study.log")
        rows = json.loads((work / "l1-study" / "pruning-study.json").read_text())["rows"]
        print(f"\n## {args.model} on Fashion-MNIST: iterative L1 unstructured pruning (20 % per iteration, 1 fine-tune "
              "epoch on 6,000 images each)\n")
        keys = ["sparsity", "fp32_accuracy", "int8_accuracy", "fp32_mib", "fp32_gzip_mib", "int8_mib", "int8_gzip_mib",
                "fp32_p50_ms", "int8_p50_ms"]
        print(table(keys, [[str(r[k]) for k in keys] for r in rows]))
        shutil.copy(work / "l1-study" / "pruning-study.png", Path(__file__).resolve().parents[1] / "docs" / "pruning-study-l1.png")

        channel_rows = []
        for ratio in (0.25, 0.5, 0.75):
            out = work / f"channel-{ratio}"
            timed([str(BIN / "edgebench"), "prune", args.model, "--checkpoint", str(checkpoint), "--method", "channel",
                   "--sparsity", str(ratio), "--iterations", "1", "--out", str(out), *finetune], log=work / "ch.log")
            timed([str(BIN / "edgebench"), "prune-study", str(out), "--out", str(out / "study")], log=work / "chs.log")
            study = json.loads((out / "study" / "pruning-study.json").read_text())["rows"]
            if not channel_rows:
                channel_rows.append(study[0])
            channel_rows.append(study[-1])
        print(f"\n## {args.model}: structured channel pruning (torch-pruning, L1 importance), 1 fine-tune epoch\n")
        keys = ["sparsity", "params", "macs", "fp32_accuracy", "int8_accuracy", "fp32_mib", "int8_mib", "fp32_p50_ms",
                "int8_p50_ms"]
        print(table(["channels removed %"] + keys[1:], [[str(r[k]) for k in keys] for r in channel_rows]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
