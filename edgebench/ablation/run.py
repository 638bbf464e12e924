"""Train, measure and tabulate each variant; a finished variant is never retrained, an interrupted one
continues from its last finished epoch."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable, Dict, List

from edgebench.ablation.spec import AblationSpec
from edgebench.ablation.table import AblationTable, build_table, csv_text, markdown, plot
from edgebench.errors import EdgebenchError
from edgebench.fileio import os_errors_named, write_bytes, write_json, write_text

# Recipe fields that may change between a run and its resumption without invalidating what is done.
_FREE = {"device"}


def _settings(spec: AblationSpec) -> Dict:
    recipe = {k: v for k, v in spec.train.as_dict().items() if k not in _FREE}
    return {"arch": spec.arch, "data": spec.data, "train": recipe, "export": spec.export}


SETTINGS_FILE = "ablation-settings.json"


def _read_json(path: Path, what: str) -> Dict:
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EdgebenchError(f"{path} is not valid JSON ({exc}); delete it to redo that {what}") from None
    if not isinstance(document, dict):
        raise EdgebenchError(f"{path} holds a {type(document).__name__}, not an object; delete it to redo that "
                             f"{what}")
    return document


def check_output_folder(out: Path) -> None:
    """An ablation writes into a new or empty folder, or continues one that an ablation run started; it adds
    files and never deletes any, so the current folder is allowed too."""
    if out.is_symlink() and not out.exists() or out.exists() and not out.is_dir():
        raise EdgebenchError(f"{out} exists and is not a folder: choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not (out / SETTINGS_FILE).is_file():
        raise EdgebenchError(f"{out.absolute()} exists and was not created by edgebench: it is never replaced; "
                             "choose another output folder")


def _check_settings(out: Path, spec: AblationSpec) -> None:
    path = out / SETTINGS_FILE
    settings = _settings(spec)
    if path.exists():
        before = _read_json(path, "whole run")
        if before != settings:
            changed = _first_difference(before, settings)
            raise EdgebenchError(f"{out} holds an ablation run with other settings ({changed}): pass another --out "
                                 "or repeat the earlier options")
    else:
        write_json(path, settings)


def _first_difference(before: Dict, now: Dict) -> str:
    for key in sorted(set(before) | set(now)):
        if key == "train":
            for field in sorted(set(before["train"]) | set(now["train"])):
                if before["train"].get(field) != now["train"].get(field):
                    return f"{field} {before['train'].get(field)} then, {now['train'].get(field)} now"
        elif before.get(key) != now.get(key):
            return f"{key} {before.get(key)} then, {now.get(key)} now"
    return "unknown"


def weights_mib(state_dict) -> float:
    """Size of the weights alone as torch saves them: the study's 'model size' column."""
    import torch

    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.tell() / 2**20


def measure(name: str, checkpoint, train_seconds: float) -> Dict:
    from edgebench.models import model_entry
    from edgebench.models.stats import model_stats

    model = checkpoint.build_model()
    height, width = checkpoint.preprocess.input_size
    stats = model_stats(model, (1, checkpoint.preprocess.channels, height, width))
    variant = model_entry(name).variant
    study = variant.study if variant is not None else None
    return {
        "index": variant.index if variant is not None else None, "variant": name,
        "techniques": list(model_entry(name).techniques), "description": model_entry(name).description,
        "params": stats.params, "mflops": round(stats.flops / 1e6, 2),
        "size_mib": round(weights_mib(checkpoint.state_dict), 3),
        "accuracy": round(100 * checkpoint.accuracy, 2),
        "study_accuracy": study.accuracy if study is not None else None,  # the paper's CIFAR figure, for reference
        "classes": checkpoint.model_config["num_classes"], "epochs": len(checkpoint.history),
        "train_images": checkpoint.dataset["train_images"], "test_images": checkpoint.dataset["test_images"],
        "train_seconds": round(train_seconds, 1),
    }


def export_int8(name: str, checkpoint: Path, bundle: Path, data, log: Callable[[str], None]) -> Dict:
    """fp32 + int8 ONNX through the product's export path; the int8 file's size and accuracy."""
    from edgebench.export.pipeline import export_bundle
    from edgebench.export.spec import ExportSpec, Format, GateSpec, Precision

    # Short smoke schedules leave models whose int8 agreement is low: record it rather than refuse.
    record_all = GateSpec(min_quant_agreement=0.0, max_quant_drop=None)
    manifest = export_bundle(name, bundle, ExportSpec(precisions=(Precision.FP32, Precision.INT8),
                                                      formats=(Format.ONNX,), gate=record_all),
                             checkpoint=str(checkpoint), data=data, overwrite=True, log=lambda line: None)
    artifacts = {artifact["name"]: artifact for artifact in manifest["artifacts"]}
    fp32, int8 = artifacts["onnx-fp32"], artifacts["onnx-int8"]
    log(f"    exported: onnx-fp32 {fp32['bytes'] / 2**20:.3f} MiB, onnx-int8 {int8['bytes'] / 2**20:.3f} MiB, "
        f"int8 top-1 agreement {100 * int8['check']['top1_agreement']:.1f} %")
    accuracy = int8["check"]["accuracy"]
    return {"fp32_onnx_mib": round(fp32["bytes"] / 2**20, 3), "int8_onnx_mib": round(int8["bytes"] / 2**20, 3),
            "int8_accuracy": None if accuracy is None else round(100 * accuracy, 2),
            "int8_agreement": round(100 * int8["check"]["top1_agreement"], 2), "bundle": str(bundle)}


def run_ablation(spec: AblationSpec, out: Path, *, log: Callable[[str], None] = print) -> AblationTable:
    from edgebench.models import model_entry
    from edgebench.train.checkpoint import load_checkpoint
    from edgebench.train.pipeline import train_model

    out = Path(out)
    check_output_folder(out)
    with os_errors_named(out):
        out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, spec)
    measured: List[Dict] = []
    for number, name in enumerate(spec.variants, 1):
        record = out / "variants" / f"{name}.json"
        if record.exists():
            measured.append(_read_json(record, "variant"))
            if not isinstance(measured[-1].get("accuracy"), (int, float)):
                raise EdgebenchError(f"{record} has no accuracy; delete it to redo that variant")
            log(f"[{number}/{len(spec.variants)}] {name}: done earlier ({measured[-1]['accuracy']} %), kept")
            continue
        chain = " > ".join(model_entry(name).techniques) or "base architecture"
        log(f"[{number}/{len(spec.variants)}] {name}: {chain}")
        path = out / "checkpoints" / f"{name}.pt"
        with os_errors_named(path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():  # trained, but interrupted before its row was written
            checkpoint = load_checkpoint(path)
        else:
            checkpoint = train_model(name, spec.data, spec.train, path, log=lambda line: log("    " + line),
                                     resumable=True)
        row = measure(name, checkpoint, checkpoint.extra.get("train_seconds", 0.0))
        if spec.export:
            row.update(export_int8(name, path, out / "bundles" / name, spec.data, log))
        write_json(record, row)  # last: a variant counts as done only with everything measured
        measured.append(row)
    table = build_table(spec.arch, measured, spec.baseline_name, spec.max_drop)
    note = (f"{spec.train.epochs} epochs ({spec.train.schedule}), batch {spec.train.batch_size}, "
            f"data {measured[0]['train_images']} train / {measured[0]['test_images']} test images "
            f"({spec.data or 'embedded digits'}), {measured[0]['classes']} classes; size = weights as saved by torch; "
            "FLOPs = fvcore (one multiply-add = one FLOP, BatchNorm counted).")
    write_text(out / "ablation.md", markdown(table, note))
    write_text(out / "ablation.csv", csv_text(table))
    write_json(out / "ablation.json", {**table.as_dict(), "settings": _settings(spec)})
    write_bytes(out / "ablation.png", plot(table))
    return table
