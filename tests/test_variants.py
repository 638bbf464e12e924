"""The study's variants: exact structure (parameter counts), FLOPs, forward/backward, ONNX parity."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from edgebench.errors import EdgebenchError, UnknownNameError
from edgebench.models import create_model, model_entry, model_names
from edgebench.models.stats import count_params, model_stats
from edgebench.models.variants import parse_variant

# Parameter counts of every variant at the study's class count (10 for ResNet, 100 for VGG). The six the
# paper prints (1, 4, 6, 13 and VGG 1, 4) are checked against its figures below; the others follow from the
# layer details of the reference architecture.
PARAMS = {
    "resnet101-v1": 42_512_970, "resnet101-v2": 59_061_002, "resnet101-v3": 35_397_093,
    "resnet101-v4": 21_240_357, "resnet101-v5": 7_536_165, "resnet101-v6": 2_254_945, "resnet101-v7": 1_186_923,
    "resnet101-v8": 873_067, "resnet101-v9": 868_801, "resnet101-v10": 450_270, "resnet101-v11": 400_115,
    "resnet101-v12": 1_424_115, "resnet101-v13": 150_715, "resnet101-v14": 1_174_715,
    "resnet101-v15": 2_999_295,
    "vgg19-v1": 39_327_652, "vgg19-v2": 20_086_692, "vgg19-v3": 13_149_631, "vgg19-v4": 2_331_583,
    "vgg19-v5": 1_848_076, "vgg19-v6": 519_948, "vgg19-v7": 520_148, "vgg19-v8": 197_604, "vgg19-v9": 443_208,
    "vgg19-v10": 387_912, "vgg19-v11": 1_588_040, "vgg19-v12": 1_397_732, "vgg19-v13": 307_060,
}
VARIANTS = sorted(PARAMS)


def _classes(name):
    return model_entry(name).variant.study_classes


def test_every_study_variant_is_registered():
    registered = {n for n in model_names() if model_entry(n).variant is not None}
    assert set(PARAMS) <= registered
    assert len([n for n in PARAMS if n.startswith("resnet101-")]) == 15
    assert len([n for n in PARAMS if n.startswith("vgg19-")]) == 13


@pytest.mark.parametrize("name", VARIANTS)
def test_exact_parameter_count(name):
    assert count_params(create_model(name, num_classes=_classes(name))) == PARAMS[name]


@pytest.mark.parametrize("name", [n for n in VARIANTS if model_entry(n).variant.study])
def test_published_figures(name):
    study = model_entry(name).variant.study
    stats = model_stats(create_model(name, num_classes=study.classes), (1, 3, 32, 32))
    if study.params is not None:
        assert stats.params == study.params
    else:
        assert round(stats.params / 1e6, 3) == pytest.approx(study.mparams)
    assert stats.flops / 1e6 == pytest.approx(study.mflops, rel=0.01)


def test_headline_ratios():
    # The study's headline: ~282x fewer parameters and ~197x fewer FLOPs from variant 1 to variant 13.
    base = model_stats(create_model("resnet101-v1"), (1, 3, 32, 32))
    small = model_stats(create_model("resnet101-v13"), (1, 3, 32, 32))
    assert base.params / small.params == pytest.approx(282.1, abs=0.1)
    assert base.flops / small.flops == pytest.approx(196.9, abs=0.2)


@pytest.mark.parametrize("name", VARIANTS)
def test_forward_backward_at_32(name):
    torch.manual_seed(0)
    classes = _classes(name)
    model = create_model(name, num_classes=classes).train()
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, classes)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    used = [p for n, p in model.named_parameters() if "unused_depthwise" not in n]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in used)
    assert sum(float(p.grad.abs().sum()) for p in used) > 0


def test_study_parity_parameters_are_the_only_unused_ones():
    model = create_model("resnet101-v15")
    unused = sum(p.numel() for n, p in model.named_parameters() if "unused_depthwise" in n)
    # one depthwise 3x3 (9 weights per channel) + BatchNorm (2 per channel) in each projecting block
    assert unused == 11 * (64 + 64 + 128 + 512)


def test_dice_variant_follows_the_input_size():
    model = create_model("vgg19-v13", num_classes=10, input_size=64).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 10)
    assert model_entry("vgg19-v13").defaults == {"input_size": 32}


def _randomise_batchnorm(model):
    """Give BatchNorm non-trivial statistics so that the parity check compares real signals, not zeros."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            count = module.num_features
            module.running_mean.copy_(torch.randn(count, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(count, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(count, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(count, generator=generator) * 0.1)
    return model.eval()


def onnx_parity(name, tmp_path):
    import onnxruntime as ort

    from edgebench.export.onnx_float import export_onnx

    torch.manual_seed(0)
    model = _randomise_batchnorm(create_model(name, num_classes=10))
    path = tmp_path / f"{name}.onnx"
    export_onnx(model, (1, 3, 32, 32), path)
    inputs = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})[0]
    with torch.no_grad():
        expected = model(inputs).numpy()
    assert got.shape == (3, 10)
    assert float(np.std(expected)) > 1e-3  # a real signal
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)


@pytest.mark.slow  # the default suite checks one shrunk variant per technique family (test_fast_end_to_end.py)
@pytest.mark.parametrize("name", VARIANTS)
def test_onnx_parity_all(name, tmp_path):
    onnx_parity(name, tmp_path)


# --- variant files -------------------------------------------------------------------------------------------

SMALL = {
    "name": "my-ghost", "base": "resnet101", "description": "a user variant", "techniques": ["ghost", "no-fc"],
    "stem": {"conv": "conv3x3", "width": 8},
    "block": {"kind": "ghost"},
    "stages": [[{"n": 1, "out": 8, "hidden": 16}], [{"n": 1, "out": 16, "hidden": 32, "stride": 2}]],
    "tail": [{"out": "classes", "act": "relu6"}], "head": {"fc": False},
}


def test_parse_a_user_variant():
    spec = parse_variant(SMALL, "my.yaml")
    assert spec.techniques == ("ghost", "no-fc") and spec.arch.block == "ghost"
    assert spec.arch.stages[1][0].stride == 2


@pytest.mark.parametrize("change, message", [
    ({"techniques": ["ghots", "no-fc"]}, "unknown technique 'ghots'.*did you mean ghost"),
    ({"techniques": ["no-fc"]}, "'techniques' does not list 'ghost'"),
    ({"base": "resnet50"}, "'base' is 'resnet50': valid values are resnet101, vgg19"),
    ({"block": {"kind": "ghost", "groups": 4, "se": "yes"}}, "'se' is 'yes': valid values are True, False"),
    ({"block": {"kind": "ghost", "widht": 4}}, "'widht' is not an option of 'ghost' blocks"),
    ({"stages": [[{"n": 0, "out": 8, "hidden": 16}]]}, r"stages\[0\]\[0\]: 'n' is 0: give a positive integer"),
    ({"stages": [[{"n": 1, "out": 8, "hidden": 16, "stride": 3}]]}, "'stride' is 3: valid values are 1, 2"),
    ({"head": {"fc": False}, "tail": []}, "the last tail layer must map to 'classes'"),
    ({"colour": "red"}, "'colour' is not a known field"),
])
def test_bad_variant_files_fail_with_the_field(change, message):
    with pytest.raises(EdgebenchError, match=message):
        parse_variant({**SMALL, **change}, "my.yaml")


def test_unknown_technique_is_an_unknown_name():
    with pytest.raises(UnknownNameError):
        parse_variant({**SMALL, "techniques": ["ghost", "no-fc", "quantum"]}, "my.yaml")


def _cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_user_variant_file_in_models_path_is_listed(tmp_path):
    import os

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "my-ghost.json").write_text(json.dumps(SMALL))
    env = {**os.environ, "EDGEBENCH_MODELS": str(folder)}
    done = _cli("models", "--family", "resnet101", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["my-ghost"]["techniques"] == ["ghost", "no-fc"]
    assert rows["my-ghost"]["params"] == count_params(create_model_from(SMALL))
    assert rows["resnet101-v13"]["params"] == 150_715 and rows["resnet101-v13"]["classes"] == 10
    assert len(rows) == 16


def create_model_from(data):
    from edgebench.models.variants.loader import build_variant

    return build_variant(parse_variant(data, "x"), num_classes=10)


def test_broken_variant_file_is_one_line(tmp_path):
    import os

    (tmp_path / "bad.yaml").write_text("name: broken\nbase: resnet101\ntechniques: [ghost]\nstem: [1, 2\n")
    done = _cli("models", env={**os.environ, "EDGEBENCH_MODELS": str(tmp_path)}, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "bad.yaml: not valid YAML" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_models_command_shows_technique_chain():
    done = _cli("models", "--family", "vgg19")
    assert done.returncode == 0, done.stderr
    line = next(l for l in done.stdout.splitlines() if l.startswith("vgg19-v4 "))
    assert "2,331,583" in line and "46.80" in line and "gap-head > depthwise-separable" in line
    order = [l.split()[0] for l in done.stdout.splitlines() if l.startswith("vgg19-v")]
    assert order == [f"vgg19-v{i}" for i in range(1, 14)]


@pytest.mark.slow
@pytest.mark.parametrize("name", VARIANTS)
def test_variant_exports_to_int8_onnx_and_tflite(name, tmp_path):
    """Every variant, briefly trained (real BatchNorm statistics), goes through the product's export path."""
    from edgebench.export.pipeline import export_bundle
    from edgebench.export.spec import ExportSpec, Format, GateSpec, Precision
    from edgebench.train import TrainSpec
    from edgebench.train.pipeline import train_model

    checkpoint = tmp_path / "model.pt"
    train_model(name, None, TrainSpec(epochs=1, batch_size=32, lr=0.05, train_limit=64), checkpoint,
                log=lambda line: None)
    manifest = export_bundle(name, tmp_path / "bundle",
                             ExportSpec(precisions=(Precision.FP32, Precision.INT8),
                                        formats=(Format.ONNX, Format.TFLITE), eval_size=64,
                                        gate=GateSpec(min_quant_agreement=0.0, max_quant_drop=None)),
                             checkpoint=str(checkpoint), log=lambda line: None)
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    assert set(artifacts) == {"onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-int8"}
    for fp32 in ("onnx-fp32", "tflite-fp32"):
        assert artifacts[fp32]["check"]["top1_agreement"] >= 0.98, fp32
        assert artifacts[fp32]["check"]["max_abs_diff"] <= 1e-3, fp32
    for int8 in ("onnx-int8", "tflite-int8"):
        assert artifacts[int8]["bytes"] < artifacts[int8.replace("int8", "fp32")]["bytes"]
        check = artifacts[int8]["check"]
        # agreement is a count of the 64 bundled images, measured against the torch model
        assert check["reference"] == "torch" and check["count"] == 64
        assert check["top1_agreement"] * 64 == pytest.approx(round(check["top1_agreement"] * 64), abs=1e-3)


def test_the_format_examples_in_models_readme_build():
    import re
    from pathlib import Path

    import yaml

    from edgebench.models.variants.loader import build_variant

    text = (Path(__file__).resolve().parents[1] / "models" / "README.md").read_text()
    examples = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(examples) == 2
    for example in examples:
        model = build_variant(parse_variant(yaml.safe_load(example), "models/README.md"), num_classes=10).eval()
        with torch.no_grad():
            assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_same_definition_twice_is_one_model_but_a_conflict_is_an_error(tmp_path, monkeypatch):
    from edgebench.models.variants.loader import load_variants

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "x.json").write_text(json.dumps(SMALL))
    (second / "x.yaml").write_text(json.dumps(SMALL))  # JSON is YAML
    monkeypatch.setenv("EDGEBENCH_MODELS", f"{first}:{second}")
    assert "my-ghost" in load_variants()
    (second / "x.yaml").write_text(json.dumps({**SMALL, "description": "another"}))
    with pytest.raises(EdgebenchError, match="model 'my-ghost' is defined twice"):
        load_variants()


def test_widths_that_cannot_work_fail_naming_the_file():
    from edgebench.models.variants.loader import build_variant

    data = {**SMALL, "block": {"kind": "ghost", "groups": 3}, "techniques": ["ghost", "no-fc",
                                                                            "grouped-pointwise-shuffle"]}
    with pytest.raises(EdgebenchError, match="my.yaml: cannot build 'my-ghost': .*divisible by groups"):
        build_variant(parse_variant(data, "my.yaml"))
