"""ONNX files as users bring them, and the parity gate that keeps or refuses each artifact."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from edgebench.cli import cli
from edgebench.errors import EdgebenchError
from edgebench.export.pipeline import export_bundle
from edgebench.export.spec import ExportSpec, Format, GateSpec, Precision

QUIET = {"log": lambda line: None}
ONNX_ONLY = ExportSpec(formats=(Format.ONNX,), eval_size=32)


class SmallNet(torch.nn.Module):
    def __init__(self, channels_last: bool = False):
        super().__init__()
        self.channels_last = channels_last
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 10)
        torch.manual_seed(0)
        self.bn.running_mean.uniform_(-0.5, 0.5)
        self.bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        x = F.relu(self.bn(self.conv(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _legacy(module, path, shape, dynamic_axes=None, opset=17):
    torch.onnx.export(module.eval(), (torch.zeros(*shape),), str(path), dynamo=False, opset_version=opset,
                      input_names=["image"], output_names=["logits"], dynamic_axes=dynamic_axes)
    return path


def test_external_weights_are_read_and_bundled_inline(tmp_path):
    path = tmp_path / "model.onnx"
    torch.onnx.export(SmallNet().eval(), (torch.zeros(1, 3, 32, 32),), str(path), dynamo=True, opset_version=18,
                      external_data=True)
    assert (tmp_path / "model.onnx.data").is_file()
    manifest = export_bundle(str(path), tmp_path / "bundle", ONNX_ONLY, **QUIET)
    fp32 = manifest["artifacts"][0]
    assert fp32["check"]["top1_agreement"] == 1.0 and fp32["gate"]["passed"] is True
    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == ["eval.npz", "manifest.json", "model.fp32.onnx",
                                                                       "probes"]


def test_missing_external_weights_are_named(tmp_path):
    path = tmp_path / "model.onnx"
    torch.onnx.export(SmallNet().eval(), (torch.zeros(1, 3, 32, 32),), str(path), dynamo=True, opset_version=18,
                      external_data=True)
    (tmp_path / "model.onnx.data").unlink()
    with pytest.raises(EdgebenchError, match=r"model\.onnx\.data, which is not beside it"):
        export_bundle(str(path), tmp_path / "bundle", ONNX_ONLY, **QUIET)
    assert not (tmp_path / "bundle").exists()


def test_dynamic_height_and_width_ask_for_input_size(tmp_path):
    path = _legacy(SmallNet(), tmp_path / "dyn.onnx", (1, 3, 32, 32), {"image": {0: "n", 2: "h", 3: "w"}})
    with pytest.raises(EdgebenchError, match="pass --input-size, e.g. --input-size 32"):
        export_bundle(str(path), tmp_path / "b", ONNX_ONLY, **QUIET)
    manifest = export_bundle(str(path), tmp_path / "b", ONNX_ONLY, input_size=24, **QUIET)
    assert manifest["preprocess"]["input_size"] == [24, 24]
    assert manifest["artifacts"][0]["input"]["shape"] == [-1, 3, 24, 24]


def test_fully_dynamic_input_takes_channels_from_the_first_conv(tmp_path):
    path = _legacy(SmallNet(), tmp_path / "any.onnx", (1, 3, 32, 32),
                   {"image": {0: "n", 1: "c", 2: "h", 3: "w"}})
    with pytest.raises(EdgebenchError, match="--input-size"):
        export_bundle(str(path), tmp_path / "b", ONNX_ONLY, **QUIET)
    manifest = export_bundle(str(path), tmp_path / "b", ONNX_ONLY, input_size=32, **QUIET)
    assert manifest["preprocess"]["channels"] == 3 and manifest["preprocess"]["input_size"] == [32, 32]


def test_nhwc_input_is_transposed_exactly(tmp_path):
    module = SmallNet(channels_last=True)
    path = _legacy(module, tmp_path / "nhwc.onnx", (1, 32, 32, 3), {"image": {0: "n"}})
    manifest = export_bundle(str(path), tmp_path / "b", ONNX_ONLY, **QUIET)
    assert manifest["model"]["provenance"]["onnx_input"]["input_layout"] == "NHWC"
    assert manifest["artifacts"][0]["input"]["shape"] == [-1, 3, 32, 32]
    images = np.random.default_rng(0).normal(size=(4, 3, 32, 32)).astype(np.float32)
    original = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    bundled = ort.InferenceSession(str(tmp_path / "b" / "model.fp32.onnx"), providers=["CPUExecutionProvider"])
    expected = original.run(None, {"image": images.transpose(0, 2, 3, 1)})[0]
    got = bundled.run(None, {"image": images})[0]
    assert np.abs(expected - got).max() < 1e-5


def test_old_opset_is_upgraded_and_recorded(tmp_path):
    path = _legacy(SmallNet(), tmp_path / "old.onnx", (1, 3, 32, 32), {"image": {0: "n"}}, opset=11)
    manifest = export_bundle(str(path), tmp_path / "b", ONNX_ONLY, **QUIET)
    assert manifest["model"]["provenance"]["onnx_input"] == {"input_layout": "NCHW", "opset": 11,
                                                             "opset_upgraded_to": 13, "batch": "dynamic"}


def test_fixed_batch_of_one_becomes_dynamic(tmp_path):
    path = _legacy(SmallNet(), tmp_path / "b1.onnx", (1, 3, 32, 32))
    manifest = export_bundle(str(path), tmp_path / "b", ONNX_ONLY, **QUIET)
    assert manifest["artifacts"][0]["input"]["shape"] == [-1, 3, 32, 32]


@pytest.mark.parametrize("shape, message", [
    ((1, 3, 32), "takes a 4-D input"),
])
def test_inputs_that_are_not_images_are_refused(tmp_path, shape, message):
    class Flat(torch.nn.Module):
        def forward(self, x):
            return x.mean(-1)

    path = _legacy(Flat(), tmp_path / "flat.onnx", shape)
    with pytest.raises(EdgebenchError, match=message):
        export_bundle(str(path), tmp_path / "b", ONNX_ONLY, **QUIET)


def test_gate_refuses_one_artifact_and_keeps_the_others(tmp_path):
    """fp16 held to an fp32-tight bound fails; the bundle keeps fp32 and says why fp16 is missing (exit 3)."""
    out = tmp_path / "bundle"
    result = CliRunner().invoke(cli, ["export", "test_resnet", "--precisions", "fp32,fp16", "--format",
                                      "onnx,tflite", "--eval-size", "16", "--fp16-tolerance", "1e-12", "--out",
                                      str(out)])
    assert result.exit_code == 3, result.output
    assert "1 artifact(s) failed the parity gate" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["name"] for a in manifest["artifacts"]] == ["onnx-fp32", "tflite-fp32"]
    assert [r["name"] for r in manifest["rejected"]] == ["tflite-fp16"]
    assert "relative max |diff|" in manifest["rejected"][0]["reason"]
    assert manifest["rejected"][0]["check"]["relative_diff"] > 1e-12
    assert not (out / "model.fp16.tflite").exists() and (out / "model.fp32.tflite").is_file()


def test_gate_defaults_by_precision():
    from edgebench.export.gate import judge
    from edgebench.export.verify import Agreement

    def check(rel, agreement=1.0, accuracy=0.9, reference=0.9):
        return Agreement(reference="torch", count=100, top1_agreement=agreement, max_abs_diff=rel * 10,
                         relative_diff=rel, accuracy=accuracy, reference_accuracy=reference)

    gate = GateSpec()
    assert judge(Precision.FP32, check(9e-4), gate, trained=True).passed
    assert not judge(Precision.FP32, check(2e-3), gate, trained=True).passed
    assert judge(Precision.FP16, check(1e-2), gate, trained=True).passed
    assert not judge(Precision.FP32, check(1e-5, agreement=0.98), gate, trained=True).passed
    # quantized: closeness is not asked, agreement and drop are
    assert judge(Precision.INT8, check(0.5, agreement=0.95, accuracy=0.88), gate, trained=True).passed
    failed = judge(Precision.INT8, check(0.5, agreement=0.95, accuracy=0.85), gate, trained=True)
    assert not failed.passed and failed.reasons == ("accuracy drop 5.00 pp is above 3 pp (--max-int8-drop)",)
    assert not judge(Precision.DYNAMIC, check(0.1, agreement=0.5), gate, trained=True).passed
    assert judge(Precision.DYNAMIC, check(0.1, agreement=0.5), gate, trained=False).passed
    nan = Agreement(reference="torch", count=1, top1_agreement=1.0, max_abs_diff=float("nan"),
                    relative_diff=float("nan"), accuracy=None, reference_accuracy=None)
    assert judge(Precision.FP32, nan, gate, trained=False).reasons == ("outputs NaN or infinity",)
    assert nan.as_dict()["max_abs_diff"] is None


@pytest.mark.parametrize("option, value, expected", [
    ("--fp32-tolerance", "0", "out of range"),
    ("--fp32-tolerance", "nan", "not a finite number"),
    ("--min-int8-agreement", "1.5", "out of range"),
    ("--max-int8-drop", "-1", "out of range"),
    ("--input-size", "0", "out of range"),
    ("--input-size", "-4", "out of range"),
    ("--eval-size", "0", "out of range"),
    ("--mean", "0.5,x", "not a number"),
])
def test_bad_export_options_are_one_line(tmp_path, option, value, expected):
    result = CliRunner().invoke(cli, ["export", "test_resnet", option, value, "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output
    assert not (tmp_path / "b").exists()


def test_force_replaces_only_a_bundle(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    result = CliRunner().invoke(cli, ["export", "test_resnet", "--format", "onnx", "--out", str(folder), "--force"])
    assert result.exit_code == 1 and "was not created by edgebench" in result.output
    assert (folder / "thesis.tex").read_text() == "years of work"


def test_factory_that_raises_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "broken_models.py").write_text("def net():\n    raise RuntimeError('no weights here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EdgebenchError, match=r"broken_models:net\(\) raised RuntimeError: no weights here"):
        export_bundle("broken_models:net", tmp_path / "b", ONNX_ONLY, **QUIET)
