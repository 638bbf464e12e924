"""One fast representative of each slow-only case: the demo end to end at a few epochs, ONNX parity of one
variant per block family (at one block per stage), and the int8 export of one study variant."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from edgebench.models.variants import parse_variant
from edgebench.models.variants.loader import build_variant
from tests.conftest import ROOT
from tests.test_variants import _randomise_batchnorm

QUIET = {"log": lambda line: None}


def test_demo_end_to_end_at_three_epochs(tmp_path):
    from edgebench.demo import DemoSpec, run_demo

    out = tmp_path / "demo"
    report = run_demo(DemoSpec(epochs=3, formats=("onnx",), out=out), **QUIET)
    manifest = json.loads((out / "bundles" / "resnet8" / "manifest.json").read_text())
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    (result_path,) = (out / "results").glob("*.json")
    result = json.loads(result_path.read_text())
    runs = {r["artifact"]: r for r in result["runs"]}
    assert set(runs) == set(artifacts) == {"onnx-fp32", "onnx-int8"}
    fp32, int8 = runs["onnx-fp32"]["accuracy"]["top1"], runs["onnx-int8"]["accuracy"]["top1"]
    assert fp32 > 0.8 and fp32 - int8 <= 0.015  # three epochs reach about 90 %; int8 within 1.5 pp
    assert runs["onnx-fp32"]["accuracy"]["count"] == 360  # the digits' whole test split
    assert artifacts["onnx-fp32"]["bytes"] / artifacts["onnx-int8"]["bytes"] >= 3.5  # at least 3.5x smaller
    assert result["device"]["name"] == "host" and all(r["latency_ms"]["p50"] > 0 for r in runs.values())
    text = report.read_text()
    assert report == out / "report.md" and text.count("| host |") == 2 and "onnx-int8" in text


# One study variant per block (ResNet) or layer (VGG) family, cut to one block per stage.
FAMILIES = {"bottleneck": "resnet101/v01", "residual-fire": "resnet101/v02", "shuffle-bottleneck": "resnet101/v05",
            "inverted-residual": "resnet101/v06", "ghost": "resnet101/v13", "dice": "resnet101/v15",
            "vgg-conv": "vgg19/v01", "vgg-fire": "vgg19/v05"}


def _one_block_per_stage(data: dict) -> dict:
    data = {key: value for key, value in data.items() if key not in ("index", "study")}
    data["name"] += "-short"
    if "stages" in data:
        data["stages"] = [[{**run, "n": 1} for run in (stage if isinstance(stage, list) else [stage])]
                          for stage in data["stages"]]
    if "plan" in data:  # each width once: 64, M, 128, M, ...
        data["plan"] = [item for i, item in enumerate(data["plan"]) if i == 0 or item != data["plan"][i - 1]]
    if data.get("head", {}).get("hidden"):
        data["head"] = {**data["head"], "hidden": 64}
    return data


@pytest.mark.parametrize("family", FAMILIES)
def test_onnx_parity_one_variant_per_family(family, tmp_path):
    from edgebench.export.onnx_float import export_onnx
    from edgebench.export.verify import compare, onnx_logits, torch_logits

    data = yaml.safe_load((ROOT / "models" / f"{FAMILIES[family]}.yaml").read_text())
    spec = parse_variant(_one_block_per_stage(data), FAMILIES[family])
    kind = spec.arch.block if hasattr(spec.arch, "block") else spec.arch.layer
    assert kind == family.removeprefix("vgg-")
    torch.manual_seed(0)
    model = _randomise_batchnorm(build_variant(spec, num_classes=10))
    path = tmp_path / "model.onnx"
    export_onnx(model, (1, 3, 32, 32), path)
    inputs = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    expected = torch_logits(model, inputs)
    assert expected.shape == (2, 10) and float(np.std(expected)) > 1e-3  # a real signal
    agreement = compare(onnx_logits(path, inputs), expected, None, "torch")
    assert agreement.max_abs_diff < 1e-4 and agreement.top1_agreement == 1.0


@pytest.mark.slow  # int8 export is covered by the demo test and tests/test_int8_mix.py; this one adds a study variant
def test_study_variant_exports_to_int8_onnx(tmp_path):
    import onnx

    from edgebench.export.pipeline import export_bundle
    from edgebench.export.spec import ExportSpec, Format, GateSpec, Precision, QuantSpec
    from edgebench.train import TrainSpec, train_model

    checkpoint = tmp_path / "model.pt"  # one step of training gives BatchNorm real statistics
    train_model("resnet101-v13", None, TrainSpec(epochs=1, batch_size=32, lr=0.05, train_limit=32), checkpoint,
                **QUIET)
    spec = ExportSpec(precisions=(Precision.FP32, Precision.INT8), formats=(Format.ONNX,), eval_size=32,
                      quant=QuantSpec(calibration_size=32, selection_size=16, configs=("u8s8-rr",)),
                      gate=GateSpec(min_quant_agreement=0.0, max_quant_drop=None))
    manifest = export_bundle("resnet101-v13", tmp_path / "bundle", spec, checkpoint=str(checkpoint), **QUIET)
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    assert set(artifacts) == {"onnx-fp32", "onnx-int8"} and not manifest.get("rejected")
    assert artifacts["onnx-fp32"]["check"]["max_abs_diff"] <= 1e-3
    int8 = artifacts["onnx-int8"]
    assert int8["bytes"] < artifacts["onnx-fp32"]["bytes"]
    assert int8["check"]["reference"] == "torch" and int8["check"]["count"] == 32
    assert int8["check"]["top1_agreement"] * 32 == pytest.approx(round(int8["check"]["top1_agreement"] * 32))
    graph = onnx.load(str(Path(tmp_path / "bundle" / int8["file"]))).graph
    assert sum(node.op_type == "QuantizeLinear" for node in graph.node) > 10
