"""End-to-end cases that take minutes: `make test-all` runs them."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_demo_end_to_end(tmp_path):
    done = subprocess.run([sys.executable, "-m", "edgebench", "demo", "--out", str(tmp_path / "demo")], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    manifest = json.loads((tmp_path / "demo" / "bundles" / "resnet8" / "manifest.json").read_text())
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    (result_path,) = (tmp_path / "demo" / "results").glob("*.json")
    runs = {r["artifact"]: r for r in json.loads(result_path.read_text())["runs"]}
    fp32, int8 = runs["onnx-fp32"]["accuracy"]["top1"], runs["onnx-int8"]["accuracy"]["top1"]
    assert fp32 > 0.95 and fp32 - int8 <= 0.01                                   # within 1 pp
    assert artifacts["onnx-fp32"]["bytes"] / artifacts["onnx-int8"]["bytes"] >= 3.5  # at least 3.5x smaller
    assert (tmp_path / "demo" / "report.md").read_text().count("| host |") == len(runs)


@pytest.mark.parametrize("name, classes", [("resnet101", 10), ("vgg19", 100)])
def test_study_baselines_export_and_match(name, classes, tmp_path):
    import onnxruntime as ort
    import torch

    from edgebench.export.onnx_float import export_onnx
    from edgebench.models import create_model

    torch.manual_seed(0)
    model = create_model(name, num_classes=classes).eval()
    path = tmp_path / f"{name}.onnx"
    export_onnx(model, (1, 3, 32, 32), path)
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert got.shape == (4, classes)
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
