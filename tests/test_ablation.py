"""The ablation sweep: a tiny real run through the CLI, resumption after an interruption, epoch-level resume."""

import csv
import json
import subprocess
import sys

import pytest
import torch

from edgebench.ablation import AblationSpec, run_ablation, select_variants
from edgebench.ablation.table import build_table, pareto
from edgebench.errors import EdgebenchError, UnknownNameError
from edgebench.train import TrainSpec

TINY = dict(epochs=1, batch_size=32, lr=0.05, train_limit=64)


def test_variant_selection():
    assert select_variants("resnet101", "1,4,6-8") == ("resnet101-v1", "resnet101-v4", "resnet101-v6",
                                                       "resnet101-v7", "resnet101-v8")
    assert select_variants("vgg19", "vgg19-v13,2") == ("vgg19-v13", "vgg19-v2")
    assert len(select_variants("vgg19", None)) == 13
    with pytest.raises(EdgebenchError, match="resnet101 has no variant 16: valid indices are 1-15"):
        select_variants("resnet101", "14-16")
    with pytest.raises(UnknownNameError, match="unknown resnet101 variant 'resnet101-v31': did you mean resnet101-v3"):
        select_variants("resnet101", "resnet101-v31")
    with pytest.raises(EdgebenchError, match="unknown architecture 'resnet50'"):
        select_variants("resnet50", "1")


def test_pareto_front_and_max_drop():
    rows = [{"variant": "a", "index": 1, "params": 100, "mflops": 50.0, "accuracy": 90.0},
            {"variant": "b", "index": 2, "params": 10, "mflops": 60.0, "accuracy": 88.0},
            {"variant": "c", "index": 3, "params": 20, "mflops": 5.0, "accuracy": 85.0},
            {"variant": "d", "index": 4, "params": 30, "mflops": 70.0, "accuracy": 80.0}]
    assert [r["variant"] for r in pareto(rows, "params")] == ["b", "a"]
    assert [r["variant"] for r in pareto(rows, "mflops")] == ["c", "a"]
    table = build_table("resnet101", rows, "a", max_drop=3.0)
    assert [r["drop_pp"] for r in table.rows] == [0.0, 2.0, 5.0, 10.0]
    assert [r["pareto"] for r in table.rows] == ["params+FLOPs", "params", "FLOPs", ""]
    assert table.smallest["variant"] == "b" and table.cheapest["variant"] == "a"
    assert build_table("resnet101", rows, "a", max_drop=5.0).cheapest["variant"] == "c"


@pytest.mark.slow  # the sweep itself is covered by the interrupted-sweep test; this one adds the CLI and --export
def test_ablation_command_tiny_run(tmp_path):
    out = tmp_path / "sweep"
    done = subprocess.run([sys.executable, "-m", "edgebench", "ablation", "--arch", "resnet101", "--variants", "13,11",
                           "--epochs", "1", "--limit", "64", "--batch-size", "32", "--lr", "0.05", "--device", "cpu",
                           "--max-drop", "100", "--export", "--out", str(out)], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "ablation.json").read_text())
    assert result["baseline"] == "resnet101-v13" and result["smallest"] == "resnet101-v13"
    rows = {row["variant"]: row for row in result["rows"]}
    assert rows["resnet101-v13"]["params"] == 150_715 and rows["resnet101-v11"]["params"] == 400_115
    assert rows["resnet101-v13"]["mflops"] == pytest.approx(12.80, abs=0.01)
    assert rows["resnet101-v13"]["drop_pp"] == 0.0
    assert rows["resnet101-v11"]["drop_pp"] == pytest.approx(
        rows["resnet101-v13"]["accuracy"] - rows["resnet101-v11"]["accuracy"], abs=0.011)
    for row in rows.values():
        # a percentage of the 360 test images, to two decimals: a whole number of images
        assert row["accuracy"] * 3.6 == pytest.approx(round(row["accuracy"] * 3.6), abs=0.02)
        assert row["epochs"] == 1 and row["train_images"] == 64
        assert row["test_images"] == 360 and row["size_mib"] > row["params"] * 4 / 2**20
    assert rows["resnet101-v13"]["study_accuracy"] == 90.82
    for name, row in rows.items():  # --export: the product's bundles, int8 columns
        assert row["int8_onnx_mib"] < row["fp32_onnx_mib"]
        assert row["int8_agreement"] * 3.6 == pytest.approx(round(row["int8_agreement"] * 3.6), abs=0.02)
        manifest = json.loads((out / "bundles" / name / "manifest.json").read_text())
        assert [a["name"] for a in manifest["artifacts"]] == ["onnx-fp32", "onnx-int8"]
    table = (out / "ablation.md").read_text().splitlines()
    assert table[0] == "# Ablation: resnet101 (drop against resnet101-v13)"
    assert sum(line.startswith("| 1") for line in table) == 2
    assert "| int8 ONNX MiB | int8 acc % | int8 agree % |" in table[4]
    assert any(line.startswith("- smallest within 100 pp of resnet101-v13: resnet101-v13") for line in table)
    with open(out / "ablation.csv") as handle:
        assert [r["variant"] for r in csv.DictReader(handle)] == ["resnet101-v13", "resnet101-v11"]
    assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ablation of resnet101: 2 variants on cpu" in done.stdout


def test_ablation_bad_input_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "edgebench", "ablation", "--arch", "vgg19", "--variants", "0-2",
                           "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: vgg19 has no variant 0: valid indices are 1-13"
    assert not (tmp_path / "x").exists()


class Interrupt:
    """A log that interrupts the run when it sees a given line, as Ctrl-C would."""

    def __init__(self, trigger, after=""):
        self.trigger, self.after, self.armed, self.lines = trigger, after, not after, []

    def __call__(self, line):
        self.lines.append(line)
        self.armed = self.armed or self.after in line
        if self.trigger and self.armed and self.trigger in line:
            raise KeyboardInterrupt


@pytest.mark.slow  # 23 s: trains the sweep twice (epoch-level resume is checked fast, below)
def test_interrupted_sweep_continues_where_it_stopped(tmp_path):
    spec = AblationSpec(arch="resnet101", variants=("resnet101-v13", "resnet101-v11"),
                        train=TrainSpec(**{**TINY, "epochs": 2}))
    # Stop in the second variant's second epoch: the first variant is finished, the second has one epoch saved.
    with pytest.raises(KeyboardInterrupt):
        run_ablation(spec, tmp_path, log=Interrupt("epoch 2/2", after="resnet101-v11"))
    first = tmp_path / "variants" / "resnet101-v13.json"
    assert first.exists() and not (tmp_path / "variants" / "resnet101-v11.json").exists()
    assert (tmp_path / "checkpoints" / "resnet101-v11.pt.state").exists()
    stamp = (first.stat().st_mtime_ns, (tmp_path / "checkpoints" / "resnet101-v13.pt").stat().st_mtime_ns)
    log = Interrupt(None)
    table = run_ablation(spec, tmp_path, log=log)
    assert any("resnet101-v13: done earlier" in line for line in log.lines)
    assert any("resuming from" in line and "after epoch 1/2" in line for line in log.lines)
    assert not any("epoch 1/2  loss" in line for line in log.lines)  # epoch 1 is not trained again
    assert stamp == (first.stat().st_mtime_ns, (tmp_path / "checkpoints" / "resnet101-v13.pt").stat().st_mtime_ns)
    assert [row["epochs"] for row in table.rows] == [2, 2]
    assert not (tmp_path / "checkpoints" / "resnet101-v11.pt.state").exists()
    # Different settings in the same folder are refused, naming the difference.
    other = AblationSpec(arch="resnet101", variants=spec.variants, train=TrainSpec(**{**TINY, "epochs": 3}))
    with pytest.raises(EdgebenchError, match="other settings \\(epochs 2 then, 3 now\\)"):
        run_ablation(other, tmp_path, log=lambda line: None)


def test_resumed_training_ends_where_an_uninterrupted_run_ends(tmp_path):
    from edgebench.train.pipeline import train_model

    spec = TrainSpec(epochs=2, batch_size=32, lr=0.05, train_limit=96)
    straight = train_model("test_resnet", None, spec, tmp_path / "a.pt", log=lambda line: None)
    with pytest.raises(KeyboardInterrupt):
        train_model("test_resnet", None, spec, tmp_path / "b.pt", log=Interrupt("epoch 2/2"), resumable=True)
    assert not (tmp_path / "b.pt").exists()
    resumed = train_model("test_resnet", None, spec, tmp_path / "b.pt", log=lambda line: None, resumable=True)
    assert resumed.history == straight.history
    for key, value in straight.state_dict.items():
        assert torch.equal(value, resumed.state_dict[key]), key
