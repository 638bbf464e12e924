"""Accuracy-aware int8 (`edgebench export --int8 --max-drop`): the pieces on hand-written inputs and a tiny graph.

The end-to-end acceptance on a trained model lives in tests/int8/ (Fashion-MNIST, marked slow)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgebench.errors import EdgebenchError
from edgebench.export.gate import judge
from edgebench.export.int8.budget import smallest_within
from edgebench.export.spec import GateSpec, Precision, QuantSpec, check_max_drop
from edgebench.export.verify import Agreement


@pytest.mark.parametrize("value", ["-0.5", "-1", "nan", "inf", "-inf", "abc", ""])
def test_bad_max_drop_exits_2_with_one_line(value):
    from edgebench.cli import cli

    done = CliRunner().invoke(cli, ["export", "test_resnet", "--int8", "--max-drop", value])
    assert done.exit_code == 2
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--max-drop" in lines[0]


def test_max_drop_without_int8_exits_2():
    from edgebench.cli import cli

    done = CliRunner().invoke(cli, ["export", "test_resnet", "--max-drop", "1"], prog_name="edgebench")
    assert done.exit_code == 2
    assert done.output.strip().splitlines() == [
        "error: --max-drop sets the int8 accuracy budget: add --int8 (or int8 to --precisions) "
        "(see 'edgebench export -h')"]


@pytest.mark.parametrize("value", [-0.01, -0.5, math.nan, math.inf, True])
def test_specs_refuse_bad_budgets(value):
    with pytest.raises(EdgebenchError, match="--max-drop"):
        QuantSpec(max_drop_pp=value)
    with pytest.raises(EdgebenchError, match="--max-drop"):
        GateSpec(max_int8_drop=value)
    assert check_max_drop(0.25) == 0.25
    assert check_max_drop(0) == 0.0  # the same rule as every other --max-drop: no loss at all


def _agreement(accuracy: float) -> Agreement:
    return Agreement(reference="torch", count=500, top1_agreement=0.97, max_abs_diff=0.5, relative_diff=0.05,
                     accuracy=accuracy, reference_accuracy=0.874)


def test_gate_holds_int8_to_the_budget_and_dynamic_to_max_int8_drop():
    gate = GateSpec(max_quant_drop=3.0, max_int8_drop=1.0)
    drop_2pp = _agreement(0.854)
    int8 = judge(Precision.INT8, drop_2pp, gate, trained=True)
    assert not int8.passed and int8.criteria["max_drop_points"] == 1.0
    assert int8.reasons == ("accuracy drop 2.00 pp is above 1 pp (--max-drop)",)
    dynamic = judge(Precision.DYNAMIC, drop_2pp, gate, trained=True)
    assert dynamic.passed and dynamic.criteria["max_drop_points"] == 3.0
    assert judge(Precision.INT8, _agreement(0.868), gate, trained=True).passed  # 0.6 pp
    without = judge(Precision.INT8, drop_2pp, GateSpec(max_quant_drop=3.0), trained=True)
    assert without.passed and without.criteria["max_drop_points"] == 3.0  # no budget: today's bound


@pytest.mark.parametrize("needed,count,asked", [
    (1, 21, [1]), (2, 21, [1, 2]), (3, 21, [1, 2, 4, 3]), (5, 21, [1, 2, 4, 8, 6, 5]),
    (21, 21, [1, 2, 4, 8, 16, 21, 19, 20]), (9, 11, [1, 2, 4, 8, 11, 10, 9]),
])
def test_smallest_within_doubles_then_bisects(needed, count, asked):
    seen = []

    def within(k):
        seen.append(k)
        return k >= needed

    assert smallest_within(within, count) == needed
    assert seen == asked
    assert len(set(seen)) == len(seen)


def test_smallest_within_none_when_even_all_fail():
    seen = []
    assert smallest_within(lambda k: seen.append(k) or False, 6) is None
    assert seen == [1, 2, 4, 6]
    assert smallest_within(lambda k: True, 0) is None


def _chain(tmp_path: Path, factor: float) -> Path:
    """Four convolutions and a linear layer, random weights; `factor` moved onto two channels of conv 1's
    output and off conv 2's inputs (the same function in fp32)."""
    import torch

    from edgebench.export.onnx_float import export_onnx

    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU()]
    for _ in range(3):
        layers += [torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(8, 4)).eval()
    with torch.no_grad():
        for channel in (1, 5):
            model[2].weight[channel] *= factor
            model[2].bias[channel] *= factor
            model[4].weight[:, channel] /= factor
    path = tmp_path / f"chain-{factor:g}.onnx"
    export_onnx(model, (1, 3, 12, 12), path)
    return path


@pytest.fixture(scope="module")
def quantized_chain(tmp_path_factory):
    from edgebench.export.int8.quantizer import CachedQuantizer, quantized_layers
    from edgebench.export.onnx_int8 import preprocess_for_quantization

    work = tmp_path_factory.mktemp("chain")
    fp32 = _chain(work, 300.0)
    prepared = work / "prepared.onnx"
    preprocess_for_quantization(fp32, prepared)
    images = np.random.default_rng(0).normal(size=(48, 3, 12, 12)).astype(np.float32)
    quantizer = CachedQuantizer(prepared, images[:32], "input", 16, work)
    full = quantizer.write(work / "full.onnx", method="minmax", per_channel=True, config="u8s8")
    return {"work": work, "fp32": fp32, "prepared": prepared, "images": images, "quantizer": quantizer,
            "full": full, "layers": quantized_layers(full)}


def test_sensitivity_ranks_the_two_layers_around_the_outlier_tensor_first(quantized_chain):
    from edgebench.export.int8.sensitivity import layer_scores

    layers = quantized_chain["layers"]
    assert len(layers) == 5  # four convolutions and the linear layer
    scores = layer_scores(quantized_chain["full"], quantized_chain["prepared"], layers, quantized_chain["images"])
    assert {s.layer for s in scores[:2]} == {layers[1], layers[2]}
    # the outlier tensor is conv 1's output and conv 2's input: the same noise, above every other layer's
    assert scores[0].score == pytest.approx(scores[1].score, rel=0.05)
    assert scores[1].score > 2 * scores[2].score
    assert all(s.score >= 0 and s.score == pytest.approx(s.weight + s.input + s.output) for s in scores)


def test_excluding_the_ranked_pair_removes_their_activation_quantization(quantized_chain):
    import onnx

    from edgebench.export.verify import onnx_logits

    layers, quantizer = quantized_chain["layers"], quantized_chain["quantizer"]
    mix = quantizer.write(quantized_chain["work"] / "mix.onnx", method="minmax", per_channel=True, config="u8s8",
                          exclude=[layers[1], layers[2]])
    model = onnx.load(str(mix))
    nodes = {n.name: n for n in model.graph.node}
    producers = {out: n for n in model.graph.node for out in n.output}
    middle_input = nodes[layers[2]].input[0]
    assert producers[middle_input].op_type == "Relu"  # conv 2 reads conv 1's float output, no DQ between
    reference = onnx_logits(quantized_chain["fp32"], quantized_chain["images"])
    full_error = np.abs(onnx_logits(quantized_chain["full"], quantized_chain["images"]) - reference).mean()
    mix_error = np.abs(onnx_logits(mix, quantized_chain["images"]) - reference).mean()
    assert mix_error < full_error / 3


def test_each_method_is_calibrated_once_whatever_is_excluded(tmp_path, monkeypatch):
    """The calibration images are read once per method: later passes (another config, granularity or float
    layers) reuse the ranges and never run the model over the images again."""
    from edgebench.export.int8 import quantizer as quantizer_module
    from edgebench.export.onnx_int8 import preprocess_for_quantization

    batches = []
    original = quantizer_module.ArrayCalibrationReader.get_next

    def counted(self):
        batch = original(self)
        if batch is not None:
            batches.append(len(batch[self.input_name]))
        return batch

    monkeypatch.setattr(quantizer_module.ArrayCalibrationReader, "get_next", counted)
    prepared = tmp_path / "prepared.onnx"
    preprocess_for_quantization(_chain(tmp_path, 300.0), prepared)
    images = np.random.default_rng(1).normal(size=(32, 3, 12, 12)).astype(np.float32)
    quantizer = quantizer_module.CachedQuantizer(prepared, images, "input", 16, tmp_path)
    first = quantizer.write(tmp_path / "a.onnx", method="minmax", per_channel=True, config="u8s8")
    assert batches == [16, 16]  # one pass over the 32 images
    layers = quantizer_module.quantized_layers(first)
    quantizer.write(tmp_path / "b.onnx", method="minmax", per_channel=False, config="s8s8")
    quantizer.write(tmp_path / "c.onnx", method="minmax", per_channel=True, config="u8s8", exclude=layers[:2])
    assert batches == [16, 16]  # reused: no calibration run
    quantizer.write(tmp_path / "d.onnx", method="percentile", per_channel=True, config="u8s8")
    assert batches == [16, 16, 16, 16]  # another method: calibrated once more


def test_weights_only_keeps_activations_float(quantized_chain):
    import onnx

    from edgebench.export.int8.quantizer import weights_only
    from edgebench.export.verify import onnx_logits

    path = weights_only(quantized_chain["prepared"], quantized_chain["full"],
                        quantized_chain["work"] / "weights-only.onnx")
    model = onnx.load(str(path))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") == 0
    assert ops.count("DequantizeLinear") == 5  # one per layer weight
    int8_weights = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) > 1]
    assert len(int8_weights) == 5
    assert not any(i.data_type == onnx.TensorProto.INT32 for i in model.graph.initializer)  # biases stay float
    # the same as the fp32 graph with each weight replaced by its int8 value times its scale, computed by hand
    from onnx import numpy_helper

    full = onnx.load(str(quantized_chain["full"]))
    full_inits = {i.name: numpy_helper.to_array(i) for i in full.graph.initializer}
    by_hand = onnx.load(str(quantized_chain["prepared"]))
    weights = {n.input[1] for n in by_hand.graph.node if n.op_type in ("Conv", "Gemm")}
    for init in by_hand.graph.initializer:
        if init.name in weights:
            quantized = full_inits[init.name + "_quantized"].astype(np.float32)
            scale = full_inits[init.name + "_scale"].astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(quantized * scale.reshape(-1, *[1] * (quantized.ndim - 1)),
                                                  init.name))
    hand_path = quantized_chain["work"] / "by-hand.onnx"
    onnx.save(by_hand, str(hand_path))
    images = quantized_chain["images"]
    assert np.abs(onnx_logits(path, images) - onnx_logits(hand_path, images)).max() < 1e-5
    assert np.abs(onnx_logits(path, images) - onnx_logits(quantized_chain["fp32"], images)).max() > 1e-6


def _result(status: str, floats, scores) -> dict:
    sensitivity = [{"layer": f"/layer{i}/Conv", "torch_layer": f"layer{i}", "op_type": "Conv", "score": score}
                   for i, score in enumerate(scores)]
    record = {"max_drop_pp": 1.0, "metric": "top-1", "sensitivity_method": "local int8 noise: test",
              "full_int8": {"accuracy": 0.80, "drop_pp": 7.5},
              "chosen": {"accuracy": 0.87, "drop_pp": 0.4, "float_layers": floats, "float_fraction": 0.1,
                         "quantizable_layers": 20},
              "calibration": {"method": "percentile", "per_channel": True, "config": "u8s8"},
              "weights_only": {"accuracy": 0.874, "drop_pp": 0.1}, "sensitivity": sensitivity,
              "search_seconds": 12.34, "status": status}
    run = {"artifact": "onnx-int8", "quantization": {"mixed_precision": record}}
    return {"bundle": {"model": {"name": "net"}}, "runs": [run, {**run, "config": "onnx-int8 threads=2"},
                                                            {"artifact": "onnx-fp32", "quantization": None}]}


def test_sensitivity_section_markdown_names_decision_and_top_layers():
    from edgebench.report import sensitivity

    lines = sensitivity.markdown([_result("mixed", ["/layer0/Conv", "/layer1/Conv"], [0.6, 0.5, 1e-4, 5e-5])])
    table_rows = [line for line in lines if line.startswith("| net ")]
    assert table_rows == ["| net | onnx-int8 | mixed: 2 layer(s) in float | 1 | 7.50 | 0.40 | 2 of 20 (10.0 %) | "
                          "percentile, per-channel | 0.10 | 12.3 |"]  # one row: two settings share the artifact
    assert ("- net onnx-int8, most sensitive: /layer0/Conv (layer0) 0.6 (float); /layer1/Conv (layer1) 0.5 (float); "
            "/layer2/Conv (layer2) 0.0001; /layer3/Conv (layer3) 5e-05") in lines
    assert sensitivity.markdown([{"bundle": {}, "runs": [{"artifact": "onnx-fp32", "quantization": None}]}]) == []


def test_sensitivity_section_html_embeds_one_chart_per_model(tmp_path):
    from edgebench.report import sensitivity

    page = sensitivity.html([_result("full-int8", [], [0.3, 0.2, 0.1])], tmp_path)
    assert page.count("<figure class='sensitivity'>") == 1
    assert "data:image/png;base64," in page and "full-int8" in page
    png = (tmp_path / "sensitivity-net-onnx-int8.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert sensitivity.html([], tmp_path) == ""


def _gated_block(tmp_path: Path) -> Path:
    """A ConvNeXt-like block: depthwise 7x7, channel LayerNorm between transposes, GELU times a sigmoid gate, a
    softmax over channels, then a linear head."""
    import torch

    from edgebench.export.onnx_float import export_onnx

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.dw = torch.nn.Conv2d(8, 8, 7, padding=3, groups=8)
            self.norm = torch.nn.LayerNorm(8)
            self.gate = torch.nn.Conv2d(8, 8, 1)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            x = self.stem(x)
            y = self.norm(self.dw(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            y = torch.nn.functional.gelu(y) * torch.sigmoid(self.gate(y))
            return self.fc(torch.softmax(x + y, dim=1).mean((2, 3)))

    torch.manual_seed(0)
    path = tmp_path / "gated.onnx"
    export_onnx(Block().eval(), (1, 3, 12, 12), path)
    return path


def test_every_quantized_op_is_ranked_and_can_be_kept_float(tmp_path):
    import onnx

    from edgebench.export.int8.quantizer import CachedQuantizer, quantized_layers, quantized_nodes
    from edgebench.export.int8.sensitivity import layer_scores
    from edgebench.export.onnx_int8 import preprocess_for_quantization

    prepared = tmp_path / "prepared.onnx"
    preprocess_for_quantization(_gated_block(tmp_path), prepared)
    images = np.random.default_rng(0).normal(size=(32, 3, 12, 12)).astype(np.float32)
    quantizer = CachedQuantizer(prepared, images, "input", 16, tmp_path)
    full = quantizer.write(tmp_path / "full.onnx", method="minmax", per_channel=True, config="u8s8")
    nodes = quantized_nodes(full)
    ops = {n.name: n.op_type for n in onnx.load(str(full)).graph.node}
    assert len(quantized_layers(full)) == 4  # three convolutions and the linear layer
    assert {"LayerNormalization", "Softmax", "Sigmoid", "Mul", "Transpose", "Erf", "ReduceMean"} <= \
        {ops[name] for name in nodes}
    scores = layer_scores(full, prepared, nodes, images)
    assert len(scores) == len(nodes) and all(math.isfinite(s.score) and s.score >= 0 for s in scores)
    assert all(s.weight == 0 for s in scores if s.op_type in ("Softmax", "Sigmoid", "Transpose"))
    # the channel LayerNorm with the transposes around it (quantized tensors are shared: a node computes in float
    # when its neighbours do not quantize the tensors between them either)
    chain = [name for name in nodes if ops[name] in ("Transpose", "LayerNormalization")]
    assert len(chain) == 3
    mix = onnx.load(str(quantizer.write(tmp_path / "mix.onnx", method="minmax", per_channel=True, config="u8s8",
                                        exclude=chain)))
    producers = {out: n for n in mix.graph.node for out in n.output}
    node = next(n for n in mix.graph.node if n.op_type == "LayerNormalization")
    assert producers[node.input[0]].op_type == "Transpose"  # reads the float tensor, no dequantize between
    assert not any(n.op_type == "QuantizeLinear" and n.input[0] == node.output[0] for n in mix.graph.node)
    assert set(quantized_nodes(tmp_path / "mix.onnx")).isdisjoint(chain[1:2])


def test_budget_rules_shared_by_both_formats():
    from edgebench.export.int8.budget import Calibration, Trial, diagnosis_first, within

    assert within(1.0, 1.0) and within(1.0 + 1e-12, 1.0) and not within(1.001, 1.0)  # the report's tolerance
    assert diagnosis_first(("a", "b", "c"), {"node": "c"}) == ("c", "a", "b")
    assert diagnosis_first(("a", "b"), {"node": "x"}) == ("a", "b") == diagnosis_first(("a", "b"), None)
    calibrated = Trial(accuracy=0.8123456, drop_pp=1.23456, calibration=Calibration(
        method="entropy", per_channel=False, config="u8s8"))
    assert calibrated.as_dict() == {"method": "entropy", "per_channel": False, "config": "u8s8",
                                    "accuracy": 0.812346, "drop_pp": 1.235}
    assert Trial(accuracy=0.9, drop_pp=-0.2, float_layers=("a", "b")).as_dict() == {
        "float_layers": 2, "accuracy": 0.9, "drop_pp": -0.2}
