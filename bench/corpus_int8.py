"""int8 on briefly trained corpus models: ONNX int8 and TFLite int8 accuracy against fp32, through export_bundle.

Each architecture is trained for a few epochs on a subset of a real data set (plain torch loop, CPU, Adam), its
state_dict saved, then exported through the product path: `export_bundle("tests.corpus.<module>:<factory>",
checkpoint=<state_dict>, ExportSpec(precisions=(fp32, int8), formats=(onnx, tflite)))`, on the data set's test
split (`--eval-size` images). One row per model: fp32 accuracy (torch, the reference), int8 accuracy and drop in
points for ONNX and TFLite, |TFLite int8 - ONNX int8| in points, the manifest's refused artifacts with reasons,
seconds for training and for the export.

    python bench/corpus_int8.py [--models resnet20-a,mobilenet-v2] [--data ../shared/datasets/fashion-mnist]
                                [--train-size 4000] [--epochs 2] [--eval-size 300] [--json results.json]
                                [--out kept/] [--max-drop 1 [--seconds 3]]

With `--max-drop PP` each model is exported once with fp32, fp16, dynamic and int8 within the budget in both
formats (`ExportSpec(quant=QuantSpec(max_drop_pp=PP))`); the table gives each float artifact's gate verdict, full
int8's drop and the chosen mix per format (drop, float ops by ONNX node and torch module, or the refusal), and the
device agent's p50 of fp32 and of the int8 artifact on one thread with 95 % intervals (`--seconds` timed per
artifact).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, run_agent, table  # noqa: E402

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


def budget_row(name: str, manifest: dict, result: Optional[dict]) -> dict:
    """The --max-drop row: float gates, and per format full int8, the decision, the float ops and p50s."""
    entries = _by_name(manifest)
    runs = {r["artifact"]: r for r in (result or {}).get("runs", []) if not r.get("error")}
    floats = {n: ("ok" if n in {a["name"] for a in manifest["artifacts"]} else "refused")
              for n in entries if n.split("-")[1] in ("fp32", "fp16", "dynamic")}
    row = {"model": name, "float": floats}
    for fmt in ("onnx", "tflite"):
        entry = entries.get(f"{fmt}-int8", {})
        record = (entry.get("quantization") or {}).get("mixed_precision") or {}
        chosen = record.get("chosen") or {}
        row[fmt] = {"status": record.get("status", "-") if "check" in entry else "refused",
                    "full_drop": (record.get("full_int8") or {}).get("drop_pp"), "drop": chosen.get("drop_pp"),
                    "float_ops": [f"{n} ({t})" if t else n for n, t in zip(chosen.get("float_layers", []),
                                                                          chosen.get("float_layers_torch", []))],
                    "ranked": chosen.get("quantizable_layers"), "reason": entry.get("reason"),
                    "p50": [_p50(runs.get(f"{fmt}-fp32")), _p50(runs.get(f"{fmt}-int8"))]}
    return row


def _p50(run: Optional[dict]) -> Optional[list]:
    if not run:
        return None
    latency = run["latency_ms"]
    return [latency["p50"], *(latency.get("p50_ci95") or [None, None])]


def _latency_cell(p50s) -> str:
    cells = ["-" if p is None else f"{p[0]:.2f}" + (f" [{p[1]:.2f}, {p[2]:.2f}]" if p[1] is not None else "")
             for p in p50s]
    ratio = (f" ({p50s[1][0] / p50s[0][0]:.2f}x)" if None not in (p50s[0], p50s[1]) else "")
    return " / ".join(cells) + ratio


def budget_table(rows: list) -> str:
    header = ["model", "format", "fp32 / fp16 / dynamic gate", "full int8 drop pp", "decision",
              "mix drop pp", "float ops (ONNX node (torch module))", "p50 fp32 / int8 ms [95 % CI]"]
    lines = []
    for r in rows:
        for fmt in ("onnx", "tflite"):
            c = r[fmt]
            gates = " / ".join(r["float"].get(f"{fmt}-{p}", "-") for p in ("fp32", "fp16", "dynamic"))
            decision = c["status"] if c["reason"] is None else f"refused: {c['reason']}"
            floats = (f"{len(c['float_ops'])} of {c['ranked']}: " + ", ".join(c["float_ops"])
                      if c["float_ops"] else ("0" if c["ranked"] else "-"))
            lines.append([r["model"], fmt, gates, _cell(c["full_drop"], ".2f"), decision, _cell(c["drop"], ".2f"),
                          floats, _latency_cell(c["p50"])])
    return table(header, lines)


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--data", default=str(SHARED / "fashion-mnist"))
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--eval-size", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-drop", type=float, help="int8 within this many points, both formats, with latency")
    parser.add_argument("--seconds", type=float, default=3.0, help="with --max-drop: timed seconds per artifact")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--out", type=Path, help="keep each model's checkpoint and bundle under this folder")
    return parser.parse_args()


def _spec(args):
    from edgebench.export.spec import ExportSpec, Format, GateSpec, Precision, QuantSpec

    if args.max_drop is None:
        return ExportSpec(precisions=(Precision.FP32, Precision.INT8), formats=(Format.ONNX, Format.TFLITE),
                          eval_size=args.eval_size, seed=args.seed)
    return ExportSpec(precisions=(Precision.FP32, Precision.FP16, Precision.DYNAMIC, Precision.INT8),
                      formats=(Format.ONNX, Format.TFLITE), quant=QuantSpec(max_drop_pp=args.max_drop),
                      gate=GateSpec(max_int8_drop=args.max_drop), eval_size=args.eval_size, seed=args.seed)


def _one(name: str, args, images, labels, mean, std, scratch: Path) -> dict:
    """Train, export (and with --max-drop time fp32 and int8 on the agent) one model: its row."""
    from edgebench.export.pipeline import export_bundle

    checkpoint = scratch / f"{name}.pt"
    train_seconds = train(name, images, labels, args.epochs, args.seed, checkpoint)
    tick = time.perf_counter()
    manifest = export_bundle(python_reference(name), scratch / name, _spec(args), checkpoint=str(checkpoint),
                             data=args.data, input_size=INPUT_SIZE, channels=CHANNELS, mean=mean, std=std,
                             overwrite=True, log=lambda line: print(line, file=sys.stderr, flush=True))
    if args.max_drop is None:
        return row_for(name, manifest, train_seconds, time.perf_counter() - tick)
    result = run_agent(scratch / name, scratch / f"{name}-result.json",
                       ["--threads", "1", "--min-seconds", f"{args.seconds:g}", "--min-runs", "30", "--no-accuracy",
                        "--quiet"])
    return {**budget_row(name, manifest, result), "train_seconds": train_seconds,
            "export_seconds": time.perf_counter() - tick}


def main() -> None:
    from edgebench.data import fit_normalisation, load_split, normalise, resize_images
    from edgebench.data.preprocess import Preprocess

    args = _arguments()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    subset = resize_images(load_split(args.data, "train").sample(args.train_size, args.seed), INPUT_SIZE, CHANNELS)
    mean, std = fit_normalisation(subset)
    images = normalise(subset.images, Preprocess(input_size=INPUT_SIZE, channels=CHANNELS, mean=mean, std=std))
    labels = subset.labels.astype("int64")
    rows = []
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = args.out or Path(scratch_dir)
        scratch.mkdir(parents=True, exist_ok=True)
        for name in args.models.split(","):
            rows.append(_one(name, args, images, labels, mean, std, scratch))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1))
    print(budget_table(rows) if args.max_drop is not None else gap_table(rows))


def gap_table(rows: list) -> str:
    header = ["model", "fp32 %", "ONNX int8 % (drop pp)", "TFLite int8 % (drop pp)", "TFLite vs ONNX int8, pp",
              "refused artifacts", "train / export s"]
    text = table(header, [[
        r["model"], _cell(r["fp32"], ".1f"),
        f"{_cell(r['onnx_int8'], '.1f')} ({_cell(r['onnx_drop'], '+.1f')})",
        f"{_cell(r['tflite_int8'], '.1f')} ({_cell(r['tflite_drop'], '+.1f')})",
        _cell(r["gap"], ".1f"), "; ".join(r["rejected"]) or "-",
        f"{r['train_seconds']:.0f} / {r['export_seconds']:.0f}"] for r in rows])
    # below twice chance the logits are near-tied and int8 agreement says nothing about the conversion
    trained = [r for r in rows if r["fp32"] is not None and r["fp32"] >= 200.0 / CLASSES]
    outside = [r for r in trained if r["gap"] is None or r["gap"] > 1.0]
    return text + "\n" + (
        f"int8 TFLite within 1 pp of int8 ONNX: {len(trained) - len(outside)} of {len(trained)} trained models"
        + "".join(f"; {r['model']}: {_cell(r['gap'], '.1f')} pp" for r in outside)
        + "".join(f"; {r['model']} not trained ({r['fp32']:.1f} %)" for r in rows if r not in trained))


if __name__ == "__main__":
    main()
