"""TFLite int8 with chosen layers kept in float: real conversions of small networks, read back op by op."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("onnx2tf")

from edgebench.errors import EdgebenchError  # noqa: E402
from edgebench.export.spec import Layout, Precision  # noqa: E402
from edgebench.export.int8.budget import Trial, fewest_float  # noqa: E402

SIZE = 16
COMPUTE_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MEAN", "MAX_POOL_2D", "PAD"}


def small_net():
    """Stem, a residual block, a strided Conv, a linear head: convolutions TFLite fuses with their Relu."""
    import torch
    from torch import nn

    class SmallNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
            self.inner = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
            self.down = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.stem(x)
            x = torch.relu(x + self.inner(x))
            return self.fc(self.down(x).mean((2, 3)))

    torch.manual_seed(0)
    return SmallNet().eval()


def images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, 3, SIZE, SIZE)).astype(np.float32)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    import onnx

    from edgebench.export.onnx_float import export_onnx
    from edgebench.export.tflite.convert import TfliteConverter

    work = tmp_path_factory.mktemp("selective")
    export_onnx(small_net(), (1, 3, SIZE, SIZE), work / "model.onnx")
    nodes = onnx.load(str(work / "model.onnx")).graph.node
    converter = TfliteConverter(work / "model.onnx", work / "tf", Layout.NHWC, images(16, seed=2),
                                (0.5,) * 3, (0.25,) * 3, simplify=False)
    full = converter.convert(Precision.INT8)
    (work / "full.tflite").write_bytes(full)
    yield {"converter": converter, "dir": work, "full": full,
           "convs": [node.name for node in nodes if node.op_type == "Conv"],
           "gemm": next(node.name for node in nodes if node.op_type == "Gemm")}
    converter.close()


def ops(model: bytes):
    """(op name, dtype of its first input, output dtype) per op, in execution order (no delegate)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    return [(op["op_name"], np.dtype(details[int(op["inputs"][0])]["dtype"]).name,
             np.dtype(details[int(op["outputs"][0])]["dtype"]).name) for op in interpreter._get_ops_details()]


def io_contract(model: bytes):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    return [(np.dtype(d["dtype"]).name, tuple(d["shape"]), d["quantization"])
            for d in (*interpreter.get_input_details(), *interpreter.get_output_details())]


def test_named_layers_come_out_float(converted):
    converter, convs, gemm = converted["converter"], converted["convs"], converted["gemm"]
    chosen = [convs[1], gemm]
    mixed = converter.convert_mixed(chosen)
    assert mixed.float_layers == tuple(chosen) and mixed.unmatched_layers == ()
    assert len(mixed.tflite_float_ops) == 2
    listed = [(name, source, out) for name, source, out in ops(mixed.model) if name in COMPUTE_OPS]
    # the kept layers run on float input and write float output; every other op that computes stays int8
    assert [(name, source) for name, source, out in listed if out == "float32"] == \
        [("CONV_2D", "float32"), ("FULLY_CONNECTED", "float32")]
    assert all(out == "int8" for name, source, out in listed if name not in ("CONV_2D", "FULLY_CONNECTED"))
    convolutions = [out for name, source, out in listed if name == "CONV_2D"]
    assert convolutions == ["int8", "float32", "int8", "int8"]  # the second convolution, as asked
    kinds = [name for name, *_ in ops(mixed.model)]
    assert kinds.count("DEQUANTIZE") == 2 and kinds.count("QUANTIZE") == 2
    assert all(out == "int8" for name, source, out in ops(converted["full"]) if name in COMPUTE_OPS)
    assert [name for name, *_ in ops(converted["full"])].count("DEQUANTIZE") == 0


def test_mixed_model_keeps_the_int8_contract_and_runs_on_the_agent(converted):
    from edgebench.export.tflite.convert import tflite_io, tflite_logits
    from edgebench.export.verify import onnx_logits

    converter, work = converted["converter"], converted["dir"]
    mixed = converter.convert_mixed(converted["convs"][:2])
    path = work / "mixed.tflite"
    path.write_bytes(mixed.model)
    assert io_contract(mixed.model) == io_contract(converted["full"])
    facts, full_facts = tflite_io(path), tflite_io(work / "full.tflite")
    assert facts["input"]["dtype"] == facts["output"]["dtype"] == "int8"
    assert facts["input_quantization"] == full_facts["input_quantization"]
    assert facts["output_quantization"]["scale"] > 0
    inputs = images(32, seed=5)
    reference = onnx_logits(work / "model.onnx", inputs)
    mixed_logits = tflite_logits(path, inputs, Layout.NHWC)
    step = facts["output_quantization"]["scale"]
    # the agent's backend quantizes the input and dequantizes the output with the interpreter's parameters:
    # the logits follow fp32 to within a few output rounding steps
    assert np.abs(mixed_logits - reference).max() <= 4 * step
    assert not np.array_equal(mixed_logits, tflite_logits(work / "full.tflite", inputs, Layout.NHWC))


def test_no_float_layers_is_todays_full_int8(converted):
    converter = converted["converter"]
    assert converter.convert(Precision.INT8, float_layers=()) == converted["full"]
    # the selective passes with nothing kept in float reproduce the converter's own int8 model op for op
    same_passes = converter.convert_mixed(())
    assert same_passes.tflite_float_ops == () and same_passes.unmatched_layers == ()
    assert ops(same_passes.model) == ops(converted["full"])
    assert io_contract(same_passes.model) == io_contract(converted["full"])


def test_every_layer_has_a_tflite_op(converted):
    pairs = converted["converter"].layer_ops()
    layers = [*converted["convs"], converted["gemm"]]
    assert all(pairs[layer] is not None for layer in layers)
    assert len({pairs[layer] for layer in layers}) == len(layers)  # one op each, none shared


def test_an_op_without_weights_can_be_kept_float(converted):
    """Not only layers: the residual join (ONNX Add) and the global average pool (ReduceMean) by node name."""
    import onnx

    nodes = onnx.load(str(converted["dir"] / "model.onnx")).graph.node
    join = next(n.name for n in nodes if n.op_type == "Add" and not any("bias" in i for i in n.input))
    pool = next(n.name for n in nodes if n.op_type == "ReduceMean")
    mixed = converted["converter"].convert_mixed([join, pool])
    assert mixed.unmatched_layers == () and len(mixed.tflite_float_ops) == 2
    listed = ops(mixed.model)
    assert [(name, out) for name, _, out in listed if name in ("ADD", "MEAN")] == [("ADD", "float32"),
                                                                                  ("MEAN", "float32")]
    assert all(out == "int8" for name, _, out in listed if name in ("CONV_2D", "FULLY_CONNECTED"))


def test_unknown_layer_is_one_line(converted):
    converter, convs = converted["converter"], converted["convs"]
    with pytest.raises(EdgebenchError) as caught:
        converter.convert(Precision.INT8, float_layers=[convs[0], convs[0] + "x"])
    message = str(caught.value)
    assert "\n" not in message and f"unknown layer '{convs[0]}x'" in message and convs[0] in message
    with pytest.raises(EdgebenchError, match="float layers apply to int8 only"):
        converter.convert(Precision.FP16, float_layers=convs[:1])


def drops(needed: int, total: int = 40):
    """A measure whose drop falls below 1 pp once `needed` layers are float; counts its calls."""
    calls = []

    def measure(layers):
        calls.append(layers)
        drop = 0.5 if len(layers) >= needed else 5.0 - len(layers) * 0.01
        return Trial(float_layers=tuple(layers), accuracy=0.9 - drop / 100, drop_pp=drop)

    ranking = tuple(f"layer{i}" for i in range(total))
    return measure, ranking, calls


@pytest.mark.parametrize("needed", [1, 2, 3, 7, 8, 13, 20])
def test_search_finds_the_fewest_layers_in_few_trials(needed):
    measure, ranking, calls = drops(needed)
    chosen, trials = fewest_float(measure, ranking, 1.0, start=("layer5",), limit=30)
    assert len(chosen.float_layers) == max(needed, 1)
    assert chosen.float_layers[0] == "layer5" and "layer5" not in chosen.float_layers[1:]
    assert chosen.float_layers[1:] == tuple(name for name in ranking if name != "layer5")[:needed - 1]
    assert len(calls) == len(trials) <= 2 * math.ceil(math.log2(30)) + 1


def test_search_stops_at_the_limit_and_when_already_within():
    measure, ranking, calls = drops(25)
    chosen, trials = fewest_float(measure, ranking, 1.0, limit=10)
    assert chosen is None and max(len(t.float_layers) for t in trials) == 10
    measure, ranking, calls = drops(0)
    chosen, trials = fewest_float(measure, ranking, 1.0, limit=10)
    assert chosen.float_layers == () and len(calls) == 1


@pytest.fixture(scope="module")
def outlier(tmp_path_factory):
    """The int8 test model (tests/int8/model.py) converted once, with its eval and calibration images."""
    from edgebench.data import load_split, normalise
    from edgebench.data.preprocess import Preprocess
    from edgebench.export.onnx_float import export_onnx
    from edgebench.export.tflite.convert import TfliteConverter
    from tests.conftest import shared_dataset
    from tests.int8 import model as int8_model

    dataset = shared_dataset("fashion-mnist")
    mean, std = int8_model.normalisation()
    preprocess = Preprocess(input_size=int8_model.INPUT_SHAPE[2:], channels=1, mean=mean, std=std)
    work = tmp_path_factory.mktemp("outlier")
    export_onnx(int8_model.outlier_cnn(), int8_model.INPUT_SHAPE, work / "outlier.onnx")
    calibration = normalise(load_split(str(dataset), "train").sample(100, 1).images, preprocess)
    test = load_split(str(dataset), "test").sample(1000, 0)
    converter = TfliteConverter(work / "outlier.onnx", work / "tf", Layout.NHWC, calibration, mean, std,
                                simplify=False)
    import onnx

    layers = [node.name for node in onnx.load(str(work / "outlier.onnx")).graph.node
              if node.op_type in ("Conv", "Gemm")]
    yield {"converter": converter, "dir": work, "inputs": normalise(test.images, preprocess),
           "labels": test.labels, "layers": layers, "outlier_layer": int8_model.OUTLIER_LAYER}
    converter.close()


def scorer_for(outlier):
    from edgebench.export.tflite.mixed import EvalScorer

    return EvalScorer(fp32_onnx=outlier["dir"] / "outlier.onnx", eval_inputs=outlier["inputs"],
                      labels=outlier["labels"], layout=Layout.NHWC, work=outlier["dir"])


@pytest.mark.slow
def test_outlier_model_loses_in_full_int8_and_two_float_layers_recover_it(outlier):
    converter, layers, index = outlier["converter"], outlier["layers"], outlier["outlier_layer"]
    scorer = scorer_for(outlier)
    full = scorer.trial((), converter.convert(Precision.INT8))
    assert full.drop_pp >= 3.0
    # the outlier tensor runs between the two convolutions around it: both in float keep it in float
    around = (layers[index], layers[index + 1])
    mixed = converter.convert_mixed(around)
    assert len(mixed.tflite_float_ops) == 2 and mixed.unmatched_layers == ()
    recovered = scorer.trial(around, mixed.model)
    assert recovered.drop_pp <= 1.0 and len(around) / len(layers) <= 0.10


@pytest.mark.slow
def test_budget_search_adds_layers_from_the_ranking_until_within(outlier):
    from edgebench.export.int8.plan import MixedPlan
    from edgebench.export.tflite.mixed import choose_mix

    converter, layers, index = outlier["converter"], outlier["layers"], outlier["outlier_layer"]
    # the ONNX side kept one of the two layers in float; TFLite needs the next one of the ranking as well
    ranking = (layers[index], layers[index + 1], *[layer for i, layer in enumerate(layers) if i not in
                                                   (index, index + 1)])
    plan = MixedPlan(max_drop_pp=1.0, float_layers=(layers[index],), ranking=ranking,
                     record={"metric": "top-1 accuracy on the eval set against the fp32 artifact",
                             "sensitivity": [{"layer": layer, "score": 1.0 / (1 + i)} for i, layer in
                                             enumerate(ranking)]})
    lines = []
    model, record = choose_mix(converter, plan, scorer_for(outlier), {}, lines.append)
    assert record["status"] == "mixed" and record["full_int8"]["drop_pp"] >= 3.0
    assert record["chosen"]["float_layers"] == list(ranking[:2]) and record["chosen"]["drop_pp"] <= 1.0
    assert record["chosen"]["float_fraction"] == round(2 / len(layers), 4) <= 0.10
    assert len(record["tflite_float_ops"]) == 2 and record["unmatched_layers"] == []
    assert [trial["float_layers"] for trial in record["trials"]] == [1, 2] and record["trials"][0]["drop_pp"] > 1
    assert model == converter.convert_mixed(ranking[:2]).model
    assert any("tflite decision: 2 of 21 layers in float" in line for line in lines)


B1_KEYS = {"max_drop_pp", "metric", "sensitivity_method", "full_int8", "chosen", "calibration", "calibration_search",
           "sensitivity", "weights_only", "search_seconds", "status", "tflite_float_ops", "unmatched_layers"}


def test_within_budget_full_int8_is_written_as_today(converted):
    from edgebench.export.int8.plan import MixedPlan
    from edgebench.export.tflite.mixed import EvalScorer, choose_mix
    from edgebench.export.verify import onnx_logits

    converter, work = converted["converter"], converted["dir"]
    inputs = images(64, seed=7)
    labels = onnx_logits(work / "model.onnx", inputs).argmax(1)  # fp32 scores 100 % on its own answers
    scorer = EvalScorer(fp32_onnx=work / "model.onnx", eval_inputs=inputs, labels=labels, layout=Layout.NHWC,
                        work=work)
    ranking = (*converted["convs"], converted["gemm"])
    plan = MixedPlan(max_drop_pp=50.0, float_layers=(), ranking=ranking, record={})
    model, record = choose_mix(converter, plan, scorer, {}, lambda line: None)
    assert model == converted["full"] and set(record) >= B1_KEYS
    assert record["status"] == "full-int8" and record["reference_accuracy"] == 1.0
    assert record["chosen"]["float_layers"] == [] and record["chosen"]["quantizable_layers"] == 5
    assert record["chosen"]["drop_pp"] == record["full_int8"]["drop_pp"] <= 50.0
    assert record["tflite_float_ops"] == [] and record["unmatched_layers"] == [] and len(record["trials"]) == 1


@pytest.mark.slow
def test_refused_onnx_plan_is_refused_when_full_int8_is_over(outlier):
    from edgebench.export.int8.plan import MixedPlan
    from edgebench.export.int8.plan import MixedRefused
    from edgebench.export.tflite.mixed import choose_mix

    plan = MixedPlan(max_drop_pp=1.0, float_layers=(), ranking=tuple(outlier["layers"]),
                     record={"status": "refused"})
    with pytest.raises(MixedRefused) as caught:
        choose_mix(outlier["converter"], plan, scorer_for(outlier), {}, lambda line: None)
    assert "\n" not in str(caught.value) and "TFLite int8 cannot meet --max-drop 1" in str(caught.value)
    record = caught.value.quantization["mixed_precision"]
    assert record["status"] == "refused" and record["chosen"] is None and len(record["trials"]) == 1
    assert record["full_int8"]["drop_pp"] >= 3.0


def test_tflite_only_export_writes_no_int8_onnx():
    from edgebench.export.spec import ExportSpec, Format

    spec = ExportSpec(precisions=(Precision.FP32, Precision.INT8), formats=(Format.TFLITE,))
    assert spec.precisions_for(Format.ONNX) == (Precision.FP32,)  # the reference, written in any case
    assert spec.precisions_for(Format.TFLITE) == (Precision.FP32, Precision.INT8)
    both = ExportSpec(precisions=(Precision.INT8,), formats=(Format.ONNX, Format.TFLITE))
    assert both.precisions_for(Format.ONNX) == (Precision.FP32, Precision.INT8)


@pytest.mark.slow
def test_tflite_only_budget_plans_on_the_onnx_graph(tmp_path):
    """`--format tflite --max-drop`: no int8 ONNX artifact, yet the TFLite mix starts from the ONNX search's plan."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT, shared_dataset

    dataset = shared_dataset("fashion-mnist")
    out = tmp_path / "bundle"
    done = subprocess.run([sys.executable, "-m", "edgebench", "export", "tests.int8.model:outlier_cnn", "--data",
                           str(dataset), "--channels", "1", "--input-size", "28", "--int8", "--max-drop", "1",
                           "--format", "tflite", "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "planning int8 layers on the ONNX graph" in done.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    assert set(artifacts) == {"onnx-fp32", "tflite-int8"}
    chosen = artifacts["tflite-int8"]["quantization"]["mixed_precision"]["chosen"]
    assert chosen["drop_pp"] <= 1.0 and chosen["float_fraction"] <= 0.10 and len(chosen["float_layers"]) >= 1
