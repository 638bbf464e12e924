import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from edgebench.data import Preprocess, normalise
from edgebench.errors import EdgebenchError
from edgebench.export.manifest import read_manifest
from edgebench.export.pipeline import export_bundle
from edgebench.export.spec import ExportSpec, GateSpec, Precision, QuantSpec
from edgebench.fileio import sha256_file
from edgebench.train import load_checkpoint


def _eval(bundle):
    manifest = read_manifest(bundle)
    with np.load(bundle / "eval.npz") as archive:
        images, labels = archive["images"], archive["labels"]
    return manifest, normalise(images, Preprocess.from_dict(manifest["preprocess"])), labels


def test_fp32_onnx_matches_torch(int8_bundle, trained_checkpoint):
    manifest, inputs, _ = _eval(int8_bundle)
    model = load_checkpoint(trained_checkpoint).build_model()
    session = ort.InferenceSession(str(int8_bundle / "model.fp32.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"input": inputs[:64]})[0]
    with torch.no_grad():
        torch_out = model(torch.from_numpy(inputs[:64])).numpy()
    assert np.abs(onnx_out - torch_out).max() < 1e-4
    fp32 = manifest["artifacts"][0]
    assert fp32["check"]["max_abs_diff"] < 1e-4 and fp32["check"]["top1_agreement"] == 1.0


def test_int8_agrees_with_fp32_and_is_smaller(int8_bundle):
    manifest = read_manifest(int8_bundle)
    fp32, int8 = manifest["artifacts"]
    assert (int8["format"], int8["precision"]) == ("onnx", "int8")
    assert int8["check"]["top1_agreement"] >= 0.95
    assert int8["quantization"]["format"] == "QDQ" and int8["quantization"]["per_channel"] is True
    assert int8["quantization"]["config"] in {"u8s8-rr", "u8s8"}
    assert 1 <= len(int8["quantization"]["selection"]) <= 2
    assert fp32["bytes"] > 0  # a 8.4 k-parameter model is all graph: size is tested on resnet8 below


def test_int8_file_is_at_least_3_5x_smaller(tmp_path):
    manifest = export_bundle("resnet8", tmp_path / "r8", ExportSpec(precisions=(Precision.FP32, Precision.INT8),
                                                                    eval_size=32), log=lambda line: None)
    fp32, int8 = manifest["artifacts"]
    assert fp32["bytes"] / int8["bytes"] >= 3.5
    assert int8["gzip_bytes"] < int8["bytes"]


def test_manifest_contract(int8_bundle):
    manifest = read_manifest(int8_bundle)
    assert manifest["schema_version"] == 1 and manifest["kind"] == "edgebench.bundle"
    assert manifest["model"]["params"] == 8402 and manifest["model"]["trained"] is True
    assert manifest["model"]["macs"] > 0
    for artifact in manifest["artifacts"]:
        path = int8_bundle / artifact["file"]
        assert sha256_file(path) == artifact["sha256"] and path.stat().st_size == artifact["bytes"]
        assert artifact["input"] == {"name": "input", "shape": [-1, 3, 32, 32], "dtype": "float32",
                                     "layout": "NCHW"}
    assert manifest["eval"]["count"] == 360 and manifest["eval"]["sha256"] == sha256_file(int8_bundle / "eval.npz")
    assert manifest["class_names"] == [str(i) for i in range(10)]


def test_random_init_export_says_so(tmp_path):
    lines = []
    manifest = export_bundle("test_vgg", tmp_path / "b", ExportSpec(eval_size=32), log=lines.append)
    assert manifest["model"]["trained"] is False
    assert any("random weights" in line for line in lines)


def test_user_onnx_model_is_quantized(int8_bundle, tmp_path):
    manifest = export_bundle(str(int8_bundle / "model.fp32.onnx"), tmp_path / "user",
                             ExportSpec(precisions=(Precision.FP32, Precision.INT8), eval_size=100),
                             log=lambda line: None)
    assert manifest["model"]["source"] == "onnx"
    assert manifest["preprocess"]["input_size"] == [32, 32]
    assert manifest["artifacts"][1]["check"]["top1_agreement"] >= 0.9
    assert manifest["artifacts"][1]["check"]["reference"] == "onnx-fp32"


def test_python_reference_model(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(
        "from edgebench.models import create_model\n"
        "def tiny():\n    return create_model('test_vgg', num_classes=10)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    manifest = export_bundle("my_models:tiny", tmp_path / "py", ExportSpec(eval_size=16), log=lambda line: None)
    assert manifest["model"]["source"] == "python" and manifest["model"]["params"] == 5722


def test_existing_bundle_is_not_overwritten(int8_bundle):
    before = (int8_bundle / "manifest.json").read_text()
    with pytest.raises(EdgebenchError, match="already exists"):
        export_bundle("test_resnet", int8_bundle, ExportSpec(), log=lambda line: None)
    assert (int8_bundle / "manifest.json").read_text() == before


def test_int8_below_the_gate_is_left_out_and_recorded(tmp_path, trained_checkpoint):
    spec = ExportSpec(precisions=(Precision.FP32, Precision.INT8), eval_size=360,
                      gate=GateSpec(min_quant_agreement=1.0, max_quant_drop=0.0),
                      quant=QuantSpec(calibration_size=1, configs=("s8s8",)))
    target = tmp_path / "partial"
    manifest = export_bundle("test_resnet", target, spec, checkpoint=str(trained_checkpoint), log=lambda line: None)
    names = [a["name"] for a in manifest["artifacts"]]
    if manifest["rejected"]:  # int8 calibrated on one image, held to perfect agreement
        rejected = manifest["rejected"][0]
        assert names == ["onnx-fp32"] and rejected["name"] == "onnx-int8"
        assert "--min-int8-agreement" in rejected["reason"] or "--max-int8-drop" in rejected["reason"]
        assert not (target / "model.int8.onnx").exists()
    else:  # a perfect int8 model on one calibration image: then it must be in the bundle
        assert names == ["onnx-fp32", "onnx-int8"] and manifest["artifacts"][1]["check"]["top1_agreement"] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["partial"]
