"""`edgebench export --int8 --max-drop` end to end on the trained test model (Fashion-MNIST, ONNX).

The outlier model loses >= 3 pp in full int8 and must come back within 1 pp with at most 10 % of its quantized
nodes in float; the plain one is within budget as full int8; a budget below what int8 weights alone lose is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import shared_dataset
from tests.int8.model import fp32_onnx

pytestmark = pytest.mark.slow


def _export(onnx_path: Path, out: Path, max_drop: str):
    from edgebench.cli import cli

    data = shared_dataset("fashion-mnist")
    done = CliRunner().invoke(cli, ["export", str(onnx_path), "--data", str(data), "--int8", "--max-drop", max_drop,
                                    "--format", "onnx", "--out", str(out)], prog_name="edgebench")
    manifest = json.loads((out / "manifest.json").read_text())
    return done, manifest


def _int8(manifest):
    return next(a for a in manifest["artifacts"] if a["name"] == "onnx-int8")


def test_outlier_model_recovered_within_1pp_with_at_most_10_percent_float(tmp_path):
    shared_dataset("fashion-mnist")
    done, manifest = _export(fp32_onnx(tmp_path / "outlier.onnx"), tmp_path / "bundle", "1")
    assert done.exit_code == 0, done.output
    artifact = _int8(manifest)
    record = artifact["quantization"]["mixed_precision"]
    assert record["status"] == "mixed" and record["max_drop_pp"] == 1.0
    assert record["full_int8"]["drop_pp"] >= 3.0
    chosen = record["chosen"]
    assert chosen["drop_pp"] <= 1.0 and 1 <= len(chosen["float_layers"])
    # every quantized node is ranked: 21 layers, 2 max pools, the global average pool and the flatten
    assert chosen["float_fraction"] <= 0.10 and chosen["quantizable_layers"] == 25
    assert {e["op_type"] for e in record["sensitivity"]} == {"Conv", "Gemm", "MaxPool", "ReduceMean", "Reshape"}
    # the diagnosis's first departing node (the convolution reading the outlier tensor) was tried first
    assert record["first_divergence"]["node"] == chosen["float_layers"][0]
    assert len(chosen["float_layers_torch"]) == len(chosen["float_layers"])
    assert artifact["quantization"]["nodes_to_exclude"] == chosen["float_layers"]
    # every calibration was tried (none was within budget): 2 configs x 2 granularities, then 2 per method
    assert [(t["method"], t["per_channel"]) for t in record["calibration_search"]][:2] == [("minmax", True)] * 2
    assert {t["method"] for t in record["calibration_search"]} == {"minmax", "entropy", "percentile"}
    assert record["full_int8"]["drop_pp"] == min(t["drop_pp"] for t in record["calibration_search"])
    assert record["weights_only"]["drop_pp"] <= 1.0
    scores = [entry["score"] for entry in record["sensitivity"]]
    assert len(scores) == 25 and scores == sorted(scores, reverse=True)
    assert {entry["layer"] for entry in record["sensitivity"][:len(chosen["float_layers"])]} == \
        set(chosen["float_layers"])
    # the gate held the artifact to the budget, on its own measurement
    assert artifact["gate"]["criteria"]["max_drop_points"] == 1.0
    check = artifact["check"]
    assert 100 * (check["reference_accuracy"] - check["accuracy"]) <= 1.0
    for entry in manifest["artifacts"]:
        assert entry["layers"] and all(isinstance(v, str) for v in entry["layers"].values())
    assert f"decision: {len(chosen['float_layers'])} of 25 layers in float" in done.output


def test_plain_model_keeps_every_layer_int8(tmp_path):
    shared_dataset("fashion-mnist")
    done, manifest = _export(fp32_onnx(tmp_path / "plain.onnx", outliers=False), tmp_path / "bundle", "1")
    assert done.exit_code == 0, done.output
    record = _int8(manifest)["quantization"]["mixed_precision"]
    assert record["status"] == "full-int8"
    assert record["chosen"]["float_layers"] == [] and record["chosen"]["float_fraction"] == 0.0
    assert record["full_int8"]["drop_pp"] <= 1.0 and record["weights_only"] is None
    assert len(record["calibration_search"]) == 1  # the first calibration was within budget: the search stopped


def test_unreachable_budget_is_refused_with_one_line_and_exit_3(tmp_path):
    shared_dataset("fashion-mnist")
    # a factor this large also crushes the next layer's int8 weights for the outlier channels
    done, manifest = _export(fp32_onnx(tmp_path / "crushed.onnx", factor=2000.0), tmp_path / "bundle", "0.01")
    assert done.exit_code == 3
    assert not any(a["name"] == "onnx-int8" for a in manifest["artifacts"])
    rejected = next(r for r in manifest["rejected"] if r["name"] == "onnx-int8")
    record = rejected["quantization"]["mixed_precision"]
    assert record["status"] == "refused" and record["chosen"] is None
    weights_drop = record["weights_only"]["drop_pp"]
    assert weights_drop > 0.01
    assert rejected["reason"] == (
        f"int8 cannot meet --max-drop 0.01: full int8 loses {record['full_int8']['drop_pp']:.2f} pp and even int8 "
        f"weights with float activations lose {weights_drop:.2f} pp; raise --max-drop above {weights_drop:.2f} or "
        "ship the fp16/fp32 artifact")
    assert f"refused onnx-int8: {rejected['reason']}" in done.output.splitlines()
