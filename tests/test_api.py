"""The Python API called directly (no subprocess, no click): an in-memory module with numpy arrays as data,
exported, measured here and reported; an onnx.ModelProto; each error type with its message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgebench as eb

ROOT = Path(__file__).resolve().parents[1]
FAST = {"warmup_runs": 1, "min_runs": 5, "min_seconds": 0.05, "rounds": 2}


def tiny_net():
    """A small greyscale CNN for 8x8 digits, trained in memory for a few seconds."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def fit(net, x_train, y_train, epochs=100):
    import torch

    images = torch.from_numpy(x_train.astype(np.float32) / 255.0)
    images = images.permute(0, 3, 1, 2) if images.ndim == 4 else images.unsqueeze(1)
    images = (images - images.mean()) / images.std()
    labels = torch.from_numpy(y_train.astype(np.int64))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(epochs):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()
    return net.eval()


@pytest.fixture(scope="module")
def arrays():
    x_train, y_train, x_test, y_test = eb.digits()
    return x_train, y_train, x_test, y_test


@pytest.fixture(scope="module")
def exported(arrays, tmp_path_factory):
    net = fit(tiny_net(), arrays[0][..., 0] if arrays[0].ndim == 4 else arrays[0], arrays[1])
    out = tmp_path_factory.mktemp("api") / "bundle"
    return eb.export(net, data=arrays, precisions=["fp32", "int8"], formats="onnx", input_size=8, out=out,
                     eval_size=200, calibration_size=64), net


def test_import_is_light():
    code = "import sys, edgebench as eb; eb.EdgebenchError; print('torch' in sys.modules, 'onnx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_in_memory_module_with_arrays_exports_a_bundle(exported, capsys):
    bundle, _ = exported
    assert isinstance(bundle, eb.Bundle) and bundle.model == "sequential"
    assert [a.name for a in bundle.artifacts] == ["onnx-fp32", "onnx-int8"] and bundle.rejected == ()
    assert bundle.manifest["preprocess"]["channels"] == 1 and bundle.manifest["preprocess"]["input_size"] == [8, 8]
    assert bundle["onnx-fp32"].top1_agreement == 1.0 and bundle["onnx-int8"].top1_agreement >= 0.9
    assert bundle["onnx-fp32"].accuracy > 0.5  # trained 100 steps: far above chance (0.1)
    assert bundle.manifest["model"]["provenance"]["python"] == "in-memory torch.nn.modules.container.Sequential"
    assert bundle.to_dict()["artifacts"][1]["path"] == str(bundle.path / "model.int8.onnx")
    assert "onnx-int8" in repr(bundle) and "<table>" in bundle._repr_html_()
    assert capsys.readouterr().out == ""  # nothing printed without progress=True


def test_bench_and_report_return_objects(exported, tmp_path):
    bundle, _ = exported
    result = eb.bench(bundle, "local", results=tmp_path / "results", threads=[1], **FAST)
    assert isinstance(result, eb.Result) and result.path.parent == tmp_path / "results" / "local"
    runs = {run.artifact: run for run in result.runs}
    assert set(runs) == {"onnx-fp32", "onnx-int8"} and all(run.error is None for run in runs.values())
    for run in runs.values():
        assert run.p50_ms > 0 and run.p50_ci95[0] <= run.p50_ms <= run.p50_ci95[1]
        assert abs(run.accuracy - bundle[run.artifact].accuracy) <= 0.02  # the agent scores what export scored
    rep = eb.report([result], max_drop=100.0, markdown=tmp_path / "r.md")
    assert isinstance(rep, eb.Report) and len(rep.rows) == 2
    assert rep.answer is not None and rep.answer.max_drop_pp == 100.0
    assert rep.answer.smallest == "sequential/onnx-int8" and rep.answer.fastest in {"sequential/onnx-fp32",
                                                                                     "sequential/onnx-int8", None}
    assert (tmp_path / "r.md").read_text().startswith("| device |")
    assert rep.to_dict()["budget"][0]["max_drop_pp"] == 100.0
    assert rep.to_html(tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert "onnx-int8" in repr(rep) and result.to_dict()["runs"][0]["p50_ms"] > 0


@pytest.mark.slow  # a second export
def test_onnx_model_proto_exports(exported, arrays, tmp_path):
    import onnx

    bundle, _ = exported
    proto = onnx.load(str(bundle["onnx-fp32"].path))
    again = eb.export(proto, data=arrays, formats="onnx", out=tmp_path / "b", name="digits-cnn", eval_size=50)
    assert again.model == "digits-cnn" and [a.name for a in again.artifacts] == ["onnx-fp32"]
    assert again.manifest["model"]["provenance"]["onnx"] == "in-memory onnx.ModelProto"
    assert again["onnx-fp32"].top1_agreement == 1.0


@pytest.mark.parametrize("call, kind, message", [
    (lambda: eb.report("x", max_drop=-1), eb.BadOptionError, "max_drop -1 is out of range: give a number >= 0"),
    (lambda: eb.export("test_vgg", max_drop=1.0), eb.BadOptionError, "sets the int8 accuracy budget"),
    (lambda: eb.export("test_vgg", seed=-3), eb.BadOptionError, "seed -3 is out of range"),
    (lambda: eb.train("test_vgg", epochs=0), eb.BadOptionError, "epochs 0 is out of range: give a whole number >= 1"),
    (lambda: eb.export("resnet110"), eb.UnknownNameError, "unknown model 'resnet110': did you mean"),
    (lambda: eb.export(42), eb.BadInputError, "model of type int is not one edgebench exports"),
    (lambda: eb.export("test_vgg", data=[np.zeros(3)]), eb.BadInputError, "data of type list is not one"),
    (lambda: eb.bench("/nonexistent/bundle"), eb.EdgebenchError, "does not exist"),
    (lambda: eb.prune("test_resnet", "/no/such.pt", method="random"), eb.UnknownNameError,
     "unknown pruning method 'random'"),
])
def test_errors_carry_the_cli_messages(call, kind, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(kind, match=message) as caught:
        call()
    assert caught.value.exit_code == (2 if kind is eb.BadOptionError else 1)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


@pytest.mark.slow  # a second export
def test_refused_artifact_carries_the_written_bundle(exported, arrays, tmp_path):
    _, net = exported
    with pytest.raises(eb.RefusedArtifactError, match="1 artifact\\(s\\) failed the parity gate") as caught:
        eb.export(net, data=arrays, precisions="fp32,int8", formats=["onnx"], input_size=8, out=tmp_path / "b",
                  eval_size=200, calibration_size=8, max_int8_drop=0.0, min_int8_agreement=1.0)
    assert caught.value.exit_code == 3
    bundle = caught.value.bundle
    assert [a.name for a in bundle.artifacts] == ["onnx-fp32"] and bundle.rejected[0]["name"] == "onnx-int8"


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the ssh client")
def test_device_error(exported, tmp_path):
    bundle, _ = exported
    with pytest.raises(eb.DeviceError) as caught:
        eb.bench(bundle, "ssh://nobody@127.0.0.1:9", results=tmp_path / "r", **FAST)
    assert caught.value.exit_code == 1 and "127.0.0.1" in str(caught.value)


def test_pandas_is_optional():
    rep = eb.Report(rows=())
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(eb.MissingDependencyError, match="pandas is not installed"):
            rep.to_pandas()
    else:
        assert len(rep.to_pandas()) == 0


def test_same_names_as_subpackages_stay_modules():
    import edgebench.export.pipeline
    import edgebench.models.zoo

    assert callable(eb.export) and callable(eb.models) and eb.export.pipeline is edgebench.export.pipeline
    assert {"test_resnet", "test_vgg"} <= {m.name for m in eb.models(family="test")}


def test_diagnose_returns_findings(exported):
    bundle, _ = exported
    found = eb.diagnose(bundle, images=2)
    assert isinstance(found, eb.Diagnosis) and found.reference == bundle.path / "model.fp32.onnx"
    assert [f.name for f in found.findings] == ["onnx-int8"]
    assert found.to_dict()["artifacts"][0]["name"] == "onnx-int8" and found.diverged == bool(found.findings[0].divergence)
    with pytest.raises(eb.BadInputError, match="a bundle carries its own images"):
        eb.diagnose(bundle, layout="NCHW")
