"""What each study variant costs to train on this CPU: median seconds per training step (batch 32, 32x32,
forward + backward + SGD step) over repeated steps, next to parameters and fvcore FLOPs, and the time one
CIFAR-10 epoch (50,000 images) would take. Tells which variants fit a CPU schedule.

    python bench/variant_cost.py [--arch resnet101] [--repeats 5] [--batch 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402


def step_seconds(model, batch: int, classes: int, repeats: int) -> float:
    import torch

    inputs, labels = torch.randn(batch, 3, 32, 32), torch.randint(0, classes, (batch,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()

    step()  # warm-up: allocations, kernel selection
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet101", choices=["resnet101", "vgg19"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    import torch

    from edgebench.ablation.spec import arch_variants
    from edgebench.models import create_model, model_entry
    from edgebench.models.stats import model_stats

    torch.manual_seed(0)
    rows, base = [], None
    for name in arch_variants(args.arch):
        classes = model_entry(name).variant.study_classes
        model = create_model(name, num_classes=classes)
        stats = model_stats(model, (1, 3, 32, 32))
        seconds = step_seconds(model, args.batch, classes, args.repeats)
        base = base or seconds
        epoch_minutes = seconds / args.batch * 50_000 / 60
        rows.append([name, f"{stats.params:,}", f"{stats.flops / 1e6:.2f}", f"{1000 * seconds:.0f}",
                     f"{1000 * seconds / args.batch:.2f}", f"{base / seconds:.1f}x", f"{epoch_minutes:.0f}"])
        print(f"{name}: {1000 * seconds:.0f} ms per step", file=sys.stderr, flush=True)
    print(f"\n{args.arch}: median of {args.repeats} training steps, batch {args.batch}, "
          f"{torch.get_num_threads()} threads\n")
    print(table(["variant", "params", "MFLOPs", "ms/step", "ms/image", "speed vs v1", "min per CIFAR epoch"], rows))


if __name__ == "__main__":
    main()
