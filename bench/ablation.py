"""The study's ablation on real data with a short CPU schedule: ResNet-101 variants 4-14 (the small ones and
the two large ones whose training fits a CPU budget) trained on Tiny-ImageNet-10 at 32x32 (CIFAR-10-like
classes), one recipe for all; drops against variant 6.

    python bench/ablation.py [--variants 4-14] [--epochs 4] [--limit 5000] [--out bench-results/ablation]

Prints the ablation table (params, fvcore FLOPs, weights size, accuracy, drop against the first variant,
int8 ONNX size and accuracy, Pareto membership) and leaves ablation.md/.csv/.json/.png and the bundles in --out. Running it again keeps finished
variants (the sweep is resumable).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, ROOT, SHARED, env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet101")
    parser.add_argument("--variants", default="4-14")
    parser.add_argument("--data", default=str(SHARED / "tiny-imagenet-10"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--limit", type=int, default=5000)
    parser.add_argument("--max-drop", type=float, default=3.0)
    parser.add_argument("--baseline", default="6", help="variant the drops are measured against")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "ablation"))
    args = parser.parse_args()
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} is absent: this benchmark needs the shared datasets (or pass --data)")
    command = [str(BIN / "edgebench"), "ablation", "--arch", args.arch, "--data", args.data, "--variants",
               args.variants, "--epochs", str(args.epochs), "--limit", str(args.limit), "--batch-size", "64",
               "--lr", "0.05", "--device", "cpu", "--max-drop", str(args.max_drop), "--baseline", args.baseline, "--export", "--out", args.out]
    print("$ " + " ".join(command), flush=True)
    done = subprocess.run(command, env=env())
    if done.returncode != 0:
        raise SystemExit(done.returncode)


if __name__ == "__main__":
    main()
