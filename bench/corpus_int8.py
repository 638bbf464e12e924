"""int8 on briefly trained corpus models: ONNX int8 and TFLite int8 accuracy against fp32, through export_bundle.

Each architecture is trained for a few epochs on a subset of a real data set (plain torch loop, CPU, Adam), its
state_dict saved, then exported through the product path: `export_bundle("tests.corpus.<module>:<factory>",
checkpoint=<state_dict>, ExportSpec(precisions=(fp32, int8), formats=(onnx, tflite)))`, on the data set's test
split (`--eval-size` images). One row per model: fp32 accuracy (torch, the reference), int8 accuracy and drop in
points for ONNX and TFLite, |TFLite int8 - ONNX int8| in points, the manifest's refused artifacts with reasons,
seconds for training and for the export.

    python bench/corpus_int8.py [--models resnet20-a,mobilenet-v2] [--data ../shared/datasets/fashion-mnist]
                                [--train-size 4000] [--epochs 2] [--eval-size 300] [--json results.json]
                                [--out kept/]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, table  # noqa: E402

DEFAULT_MODELS = "resnet20-a,mobilenet-v2,shufflenet-v2,squeezenet,efficientnet-b0"
INPUT_SIZE = (32, 32)
CHANNELS = 3  # the corpus factories build 3-channel models; grey images are repeated to 3 channels
# SqueezeNet has no normalisation layers and ends in a ReLU before the pooling: from PyTorch's default
# initialisation its class scores stay at chance (measured 10.3 to 10.5 % at peak rates 4e-3, 1e-3, 3e-4); it
# starts from a He initialisation instead, at a lower peak rate.
PEAK_LEARNING_RATE = {"squeezenet": 1e-3}
HE_INITIALISED = ("squeezenet",)
CLASSES = 10


def python_reference(name: str) -> str:
    """`package.module:function` for a corpus architecture written in tests/corpus (not the zoo entries)."""
    from tests.corpus import CORPUS

    factory = CORPUS[name]
    if not hasattr(factory, "__name__"):
        raise SystemExit(f"{name} is a zoo model, not a Python factory: choose from "
                         f"{', '.join(n for n, f in CORPUS.items() if hasattr(f, '__name__'))}")
    return f"{factory.__module__}:{factory.__name__}"


def train(name: str, images, labels, epochs: int, seed: int, checkpoint: Path) -> float:
    """A plain Adam loop from the factory's initialisation (He for HE_INITIALISED); saves the state_dict;
    returns seconds."""
    import torch
    from torch import nn

    from tests.corpus import CORPUS

    torch.manual_seed(seed)
    model = CORPUS[name]()
    if name in HE_INITIALISED:
        for layer in model.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
    inputs, targets = torch.from_numpy(images), torch.from_numpy(labels)
    optimiser = torch.optim.Adam(model.parameters())
    steps = epochs * ((len(inputs) + 63) // 64)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=PEAK_LEARNING_RATE.get(name, 4e-3),
                                                   total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    tick = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            optimiser.zero_grad()
            loss = loss_fn(model(inputs[batch]), targets[batch])
            loss.backward()
            optimiser.step()
            schedule.step()
    torch.save(model.state_dict(), checkpoint)
    return time.perf_counter() - tick


def _by_name(manifest: dict) -> dict:
    return {entry["name"]: entry for entry in manifest["artifacts"] + manifest.get("rejected", [])}


def row_for(name: str, manifest: dict, train_seconds: float, export_seconds: float) -> dict:
    entries = _by_name(manifest)

    def accuracy(artifact):
        check = entries.get(artifact, {}).get("check")
        return None if check is None else 100 * check["accuracy"]

    fp32 = next((100 * e["check"]["reference_accuracy"] for e in entries.values() if e.get("check")), None)
    onnx_int8, tflite_int8 = accuracy("onnx-int8"), accuracy("tflite-int8")
    return {
        "model": name, "fp32": fp32, "onnx_int8": onnx_int8, "tflite_int8": tflite_int8,
        "onnx_drop": None if None in (fp32, onnx_int8) else fp32 - onnx_int8,
        "tflite_drop": None if None in (fp32, tflite_int8) else fp32 - tflite_int8,
        "gap": None if None in (onnx_int8, tflite_int8) else abs(tflite_int8 - onnx_int8),
        "rejected": [f"{e['name']}: {e['reason']}{_divergence(e.get('divergence'))}"
                     for e in manifest.get("rejected", [])],
        "onnx_int8_config": (entries.get("onnx-int8", {}).get("quantization") or {}).get("config"),
        "train_seconds": train_seconds, "export_seconds": export_seconds,
    }


def _divergence(found) -> str:
    if not found:
        return ""
    if "node" not in found:
        return f" (first divergence not found: {found.get('error')})"
    layer = f" from layer {found['source_layer']}" if found.get("source_layer") else ""
    return (f" (first divergence: node {found['node']} ({found['op_type']}){layer}, relative diff "
            f"{found['relative_diff']:.2g})")


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def main() -> None:
    from edgebench.data import fit_normalisation, load_split, normalise, resize_images
    from edgebench.data.preprocess import Preprocess
    from edgebench.export.pipeline import export_bundle
    from edgebench.export.spec import ExportSpec, Format, Precision

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--data", default=str(SHARED / "fashion-mnist"))
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--eval-size", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--out", type=Path, help="keep each model's checkpoint and bundle under this folder")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    subset = resize_images(load_split(args.data, "train").sample(args.train_size, args.seed), INPUT_SIZE, CHANNELS)
    mean, std = fit_normalisation(subset)
    images = normalise(subset.images, Preprocess(input_size=INPUT_SIZE, channels=CHANNELS, mean=mean, std=std))
    labels = subset.labels.astype("int64")
    spec = ExportSpec(precisions=(Precision.FP32, Precision.INT8), formats=(Format.ONNX, Format.TFLITE),
                      eval_size=args.eval_size, seed=args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = args.out or Path(scratch_dir)
        scratch.mkdir(parents=True, exist_ok=True)
        for name in args.models.split(","):
            reference = python_reference(name)
            checkpoint = scratch / f"{name}.pt"
            train_seconds = train(name, images, labels, args.epochs, args.seed, checkpoint)
            tick = time.perf_counter()
            manifest = export_bundle(reference, scratch / name, spec, checkpoint=str(checkpoint),
                                     data=args.data, input_size=INPUT_SIZE, channels=CHANNELS, mean=mean, std=std,
                                     log=lambda line: print(line, file=sys.stderr, flush=True))
            row = row_for(name, manifest, train_seconds, time.perf_counter() - tick)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    header = ["model", "fp32 %", "ONNX int8 % (drop pp)", "TFLite int8 % (drop pp)", "TFLite vs ONNX int8, pp",
              "refused artifacts", "train / export s"]
    print(table(header, [[
        r["model"], _cell(r["fp32"], ".1f"),
        f"{_cell(r['onnx_int8'], '.1f')} ({_cell(r['onnx_drop'], '+.1f')})",
        f"{_cell(r['tflite_int8'], '.1f')} ({_cell(r['tflite_drop'], '+.1f')})",
        _cell(r["gap"], ".1f"), "; ".join(r["rejected"]) or "-",
        f"{r['train_seconds']:.0f} / {r['export_seconds']:.0f}"] for r in rows]))
    # below twice chance the logits are near-tied and int8 agreement says nothing about the conversion
    trained = [r for r in rows if r["fp32"] is not None and r["fp32"] >= 200.0 / CLASSES]
    outside = [r for r in trained if r["gap"] is None or r["gap"] > 1.0]
    print(f"int8 TFLite within 1 pp of int8 ONNX: {len(trained) - len(outside)} of {len(trained)} trained models"
          + "".join(f"; {r['model']}: {_cell(r['gap'], '.1f')} pp" for r in outside)
          + "".join(f"; {r['model']} not trained ({r['fp32']:.1f} %)" for r in rows if r not in trained))


if __name__ == "__main__":
    main()
