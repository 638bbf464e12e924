import json

import pytest
import torch
from click.testing import CliRunner

from edgebench.cli import cli
from edgebench.errors import EdgebenchError
from edgebench.export.pipeline import export_bundle
from edgebench.export.spec import ExportSpec, Precision
from edgebench.prune import PruneSpec
from edgebench.prune.methods import conv_sparsity, conv_weights
from edgebench.prune.pipeline import prune_checkpoint
from edgebench.train import load_checkpoint
from tests.conftest import FAST_TIMING, run_agent

QUIET = {"log": lambda line: None}


@pytest.fixture(scope="module")
def unstructured(trained_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("pruned")
    rows = prune_checkpoint(str(trained_checkpoint), None, PruneSpec(iterations=3, finetune_epochs=1), out, **QUIET)
    return out, rows


def test_study_schedule():
    assert [round(s, 4) for s in PruneSpec().schedule()] == [0.2, 0.36, 0.488, 0.5904, 0.6723, 0.7379, 0.7903,
                                                            0.8322, 0.8658, 0.8926]
    assert PruneSpec(target=0.5).schedule()[-1] == 0.5 and len(PruneSpec(target=0.5).schedule()) == 4
    assert PruneSpec(method="channel", target=0.3, iterations=3).schedule() == pytest.approx([0.1, 0.2, 0.3])


def test_unstructured_sparsity_and_only_convs(unstructured):
    out, rows = unstructured
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3]
    for row, requested in zip(rows[1:], (0.2, 0.36, 0.488)):
        assert abs(row["conv_sparsity"] - requested) <= 0.005  # within 0.5 pp
    checkpoint = load_checkpoint(rows[-1]["file"])
    model = checkpoint.build_model()
    assert abs(conv_sparsity(model) - 0.488) <= 0.005
    for name, tensor in model.state_dict().items():
        if ("fc" in name or "bn" in name or name.endswith("1.weight")) and tensor.dtype == torch.float32 \
                and tensor.dim() < 4:
            assert float((tensor == 0).float().mean()) < 0.05, name  # BN and FC are left alone
    assert not any(k.endswith("_orig") or k.endswith("_mask") for k in checkpoint.state_dict)  # masks removed
    assert (checkpoint.extra["pruning"]["method"], checkpoint.extra["pruning"]["importance"]) == ("unstructured", "l1")
    assert json.loads((out / "pruning.json").read_text())["iterations"][-1]["file"] == rows[-1]["file"]


def test_pruned_checkpoint_exports_to_int8_and_records_sparsity(unstructured, tmp_path):
    _, rows = unstructured
    manifest = export_bundle("test_resnet", tmp_path / "b", ExportSpec(precisions=(Precision.FP32, Precision.INT8)),
                             checkpoint=rows[-1]["file"], **QUIET)
    assert manifest["model"]["pruning"]["method"] == "unstructured"
    assert abs(manifest["model"]["pruning"]["conv_sparsity"] - 0.488) <= 0.005
    fp32 = manifest["artifacts"][0]
    assert fp32["gzip_bytes"] < 0.85 * fp32["bytes"]  # zeros compress; the raw file does not shrink
    assert manifest["artifacts"][1]["check"]["top1_agreement"] >= 0.9


def test_channel_pruning_shrinks_and_runs(trained_checkpoint, tmp_path):
    rows = prune_checkpoint(str(trained_checkpoint), None, PruneSpec(method="channel", target=0.5, iterations=1,
                                                                     finetune_epochs=1), tmp_path / "ch", **QUIET)
    assert rows[1]["macs"] < 0.6 * rows[0]["macs"] and rows[1]["params"] < 0.6 * rows[0]["params"]
    checkpoint = load_checkpoint(rows[1]["file"])
    model = checkpoint.build_model()  # rebuilt from plain tensors and recorded layer sizes
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    bundle = tmp_path / "bundle"
    manifest = export_bundle("test_resnet", bundle, ExportSpec(precisions=(Precision.FP32, Precision.INT8)),
                             checkpoint=rows[1]["file"], **QUIET)
    assert manifest["model"]["params"] == rows[1]["params"]
    done = run_agent("run", str(bundle), "--out", str(tmp_path / "r.json"), *FAST_TIMING)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args, code, message", [
    (["--sparsity", "1.0"], 2, "--sparsity 1.0 is out of range: give a number in [0, 1)"),
    (["--sparsity", "-0.1"], 2, "--sparsity -0.1 is out of range: give a number in [0, 1)"),
    (["--amount", "1.5"], 2, "--amount 1.5 is out of range: give a number in (0, 1)"),
    (["--method", "random"], 2, "'random' is not one of 'channel', 'unstructured'"),
    (["--importance", "random"], 2, "'random' is not one of 'l1', 'l2', 'taylor'"),
    (["--seed", "-1"], 2, "--seed -1 is out of range"),
])
def test_bad_pruning_arguments(trained_checkpoint, tmp_path, args, code, message):
    result = CliRunner().invoke(cli, ["prune", "test_resnet", "--checkpoint", str(trained_checkpoint),
                                      "--out", str(tmp_path / "p"), *args])
    assert result.exit_code == code and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "p").exists()


def test_prune_spec_rejects_out_of_range():
    with pytest.raises(EdgebenchError, match="iterations 0 is out of range"):
        PruneSpec(iterations=0)


@pytest.mark.slow  # 26 s: exports and measures every iteration
def test_prune_study_tabulates_every_iteration_from_the_real_run(unstructured, tmp_path):
    folder, rows = unstructured
    out = tmp_path / "study"
    result = CliRunner().invoke(cli, ["prune-study", str(folder), "--out", str(out), "--min-seconds", "0.05",
                                      "--max-drop", "100"])
    assert result.exit_code == 0, result.output
    table = json.loads((out / "pruning-study.json").read_text())
    assert (table["model"], table["method"]) == ("test_resnet", "l1-unstructured")
    # within 100 pp every artifact qualifies: the smallest is the most pruned iteration's
    assert table["budget"] is not None and "smallest within 100 pp of the unpruned fp32" in result.output
    assert table["budget"]["smallest"] == "iteration 3 int8" and table["budget"]["withheld"] is None
    study = table["rows"]
    assert [row["iteration"] for row in study] == [0, 1, 2, 3]
    assert [row["sparsity"] for row in study] == [round(100 * row["achieved"], 2) for row in rows]
    assert [row["sparsity"] for row in study] == pytest.approx([0.0, 20.0, 36.0, 48.8], abs=0.5)
    # Unstructured masks keep every weight and MAC in the dense tensors: counts and raw sizes stay put,
    # the gzip size falls with every iteration as zeros compress.
    assert len({(row["params"], row["macs"], row["fp32_mib"]) for row in study}) == 1
    assert study[0]["params"] == rows[0]["params"] and study[0]["macs"] == round(rows[0]["macs"] / 1e6, 3)
    for before, after in zip(study, study[1:]):
        assert after["fp32_gzip_mib"] < before["fp32_gzip_mib"] and after["int8_gzip_mib"] < before["int8_gzip_mib"]
    assert study[-1]["fp32_gzip_mib"] < 0.8 * study[0]["fp32_gzip_mib"]
    for row in study:
        # int8 weights, but a tiny model's file is mostly graph: smaller, not 4x smaller.
        assert row["int8_mib"] < 0.9 * row["fp32_mib"] and row["int8_gzip_mib"] < row["int8_mib"]
        assert row["fp32_p50_ms"] > 0 and row["int8_p50_ms"] > 0
        # The agent's accuracies on the bundle's images: far above chance, int8 close to fp32.
        assert 60 < row["fp32_accuracy"] <= 100 and abs(row["int8_accuracy"] - row["fp32_accuracy"]) <= 5
    # The dense model's agent-measured accuracy agrees with what pruning measured on the test split.
    assert study[0]["fp32_accuracy"] == pytest.approx(100 * rows[0]["accuracy"], abs=5)
    markdown_rows = [line for line in (out / "pruning-study.md").read_text().splitlines() if line.startswith("| ")]
    assert len(markdown_rows) == 1 + 4 and markdown_rows[0].startswith("| it | sparsity % | params |")
    assert markdown_rows[2].startswith(f"| 1 | {study[1]['sparsity']} | {study[1]['params']} |")
    assert (out / "pruning-study.md").read_text().strip() in result.output  # the table shown is the one written
    csv_lines = (out / "pruning-study.csv").read_text().splitlines()
    assert csv_lines[0].split(",")[:3] == ["iteration", "sparsity", "params"] and len(csv_lines) == 5
    assert (out / "pruning-study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (out / "results").iterdir()) == [f"iteration-0{i}.json" for i in range(4)]


def _pruned(checkpoint_path, method, importance, level):
    from edgebench.data import load_split, resize_images
    from edgebench.prune.importance import IMPORTANCES
    from edgebench.prune.methods import PRUNERS
    from edgebench.train.trainer import accumulate_gradients

    base = load_checkpoint(checkpoint_path)
    model = base.build_model()
    chosen = IMPORTANCES.get(importance)()
    if chosen.needs_gradients:
        train_set = resize_images(load_split(None, "train"), (32, 32), 3)
        accumulate_gradients(model, train_set, base.preprocess, images=128)
    pruner = PRUNERS.get(method)(model, torch.zeros(1, 3, 32, 32), 10, chosen)
    pruner.step(level)
    return pruner


def test_importance_is_chosen_apart_from_the_method(trained_checkpoint):
    """Any criterion with any method: the same sparsity, different weights removed."""
    masks = {}
    for importance in ("l1", "l2", "taylor"):
        pruner = _pruned(trained_checkpoint, "unstructured", importance, 0.5)
        assert abs(pruner.achieved() - 0.5) <= 0.005
        masks[importance] = torch.cat([module.weight_mask.flatten() for module, _ in conv_weights(pruner.model)])
    assert torch.equal(masks["l1"], masks["l2"])  # |w| and w^2 rank single weights alike
    differ = float((masks["l1"] != masks["taylor"]).float().mean())
    assert 0.02 < differ < 0.9  # Taylor keeps other weights, at the same sparsity
    for importance in ("l2", "taylor"):
        shrunk = _pruned(trained_checkpoint, "channel", importance, 0.25)
        assert 0.2 <= shrunk.achieved() <= 0.3
        assert shrunk.export_copy()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_methods_and_importances_come_from_their_registries():
    import re
    from pathlib import Path

    from edgebench.prune.importance import IMPORTANCES
    from edgebench.prune.methods import METHODS, PRUNERS
    from edgebench.prune.spec import IMPORTANCE_NAMES

    assert METHODS == tuple(PRUNERS.names()) == ("channel", "unstructured")
    assert IMPORTANCE_NAMES == tuple(IMPORTANCES.names()) == ("l1", "l2", "taylor")
    root = Path(__file__).resolve().parents[1] / "edgebench"
    branches = [str(path) for path in root.rglob("*.py")
                if re.search(r"""==\s*["'](channel|unstructured|l1-unstructured)["']""", path.read_text())]
    assert branches == []  # a method's behaviour lives in its class, never in a branch on its name
