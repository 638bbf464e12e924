"""What one trained variant measures: parameters, FLOPs, weight size, accuracy; optionally its int8 ONNX."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Dict

from edgebench.export.pipeline import export_bundle
from edgebench.export.spec import ExportSpec, Format, GateSpec, Precision
from edgebench.models import model_entry
from edgebench.models.stats import model_stats


def weights_mib(state_dict) -> float:
    """Size of the weights alone as torch saves them: the study's 'model size' column."""
    import torch  # torch: heavy, loaded only when this runs

    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.tell() / 2**20


def measure(name: str, checkpoint, train_seconds: float) -> Dict:
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
