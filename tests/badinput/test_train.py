"""`edgebench train` and the checkpoint reader with bad options, bad targets, a full disk and damaged files:
one line, the documented exit code, and no checkpoint or temporary left behind."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.cli import cli
from .conftest import assert_unchanged, fill_disk, one_error_line, tree_snapshot

SMOKE = ("--epochs", "1", "--limit", "64", "--batch-size", "32")


def run(tmp_path: Path, *args: str, ignore=()):
    """Invoke from inside tmp_path/cwd; assert nothing under tmp_path changed except `ignore`."""
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    before = tree_snapshot(tmp_path)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, list(args), prog_name="edgebench")
    finally:
        os.chdir(old)
    assert_unchanged(before, tmp_path, ignore=ignore)
    return result


@pytest.mark.parametrize("args, message", [
    (["--lr", "nan"], "Invalid value for '--lr': --lr nan is not a finite number"),
    (["--lr", "inf"], "--lr inf is not a finite number"),
    (["--lr", "-0.1"], "--lr -0.1 is out of range: give a number > 0"),
    (["--weight-decay", "-inf"], "--weight-decay -inf is not a finite number"),
    (["--input-size", "0"], "--input-size 0 is out of range: give a square size in pixels >= 8, e.g. 32"),
    (["--input-size", "-4"], "--input-size -4 is out of range: give a square size in pixels >= 8"),
    (["--epochs", "0"], "--epochs 0 is out of range: give a whole number >= 1"),
    (["--epochs", "-1"], "--epochs -1 is out of range"),
    (["--batch-size", "0"], "--batch-size 0 is out of range: give a whole number >= 1"),
    (["--limit", "-1"], "--limit -1 is out of range"),
    (["--epochs", "2.5"], "--epochs '2.5' is not an integer"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, args, message):
    result = run(tmp_path, "train", "test_vgg", "--out", str(tmp_path / "m.pt"), *args)
    line = one_error_line(result.output)
    assert result.exit_code == 2 and message in line and line.endswith("(see 'edgebench train -h')")


def test_diverging_training_stops_and_writes_nothing(tmp_path):
    result = run(tmp_path, "train", "test_vgg", "--lr", "1e30", *SMOKE, "--out", str(tmp_path / "m.pt"))
    line = one_error_line(result.output)
    assert result.exit_code == 1
    assert line.startswith("error: training diverged: the loss is ") and " at epoch 1, step " in line
    assert line.endswith("lower --lr; no checkpoint was written")


@pytest.mark.parametrize("kind", ["folder", "fifo", "file-as-parent"])
def test_unwritable_checkpoint_paths_are_refused_before_training(tmp_path, kind):
    target = tmp_path / "target"
    if kind == "folder":
        target.mkdir()
        (target / "keep").write_text("x")
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.write_text("a file")
        target = target / "m.pt"
    result = run(tmp_path, "train", "test_vgg", *SMOKE, "--out", str(target))
    line = one_error_line(result.output)
    assert "training" not in result.output.replace(line, "")
    if kind == "folder":  # click's own check of --out: a usage error
        assert result.exit_code == 2 and f"'{target}' is a directory" in line
        return
    expected = {"fifo": "not a regular file", "file-as-parent": "is not a folder"}[kind]
    assert result.exit_code == 1 and line.startswith(f"error: cannot write {target}") and expected in line


def test_read_only_folder_is_refused_before_training(tmp_path, read_only_dir):
    result = run(tmp_path, "train", "test_vgg", *SMOKE, "--out", str(read_only_dir / "m.pt"))
    assert result.exit_code == 1
    assert one_error_line(result.output).startswith(f"error: cannot write {read_only_dir / 'm.pt'}: ")


def test_full_disk_after_training_is_one_line_and_leaves_nothing(tmp_path, tiny_tmpfs):
    fill_disk(tiny_tmpfs, leave=16 * 1024)
    result = run(tmp_path, "train", "test_vgg", *SMOKE, "--out", str(tiny_tmpfs / "m.pt"),
                 ignore=[tiny_tmpfs])
    assert result.exit_code == 1
    assert one_error_line(result.output) == f"error: cannot write {tiny_tmpfs / 'm.pt'}: no space left on the device"
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == [".filler"]


def _real_checkpoint(path: Path) -> Path:
    from edgebench.data import Preprocess
    from edgebench.models import create_model
    from edgebench.train import Checkpoint, save_checkpoint

    model = create_model("test_resnet", num_classes=10, in_channels=3)
    save_checkpoint(path, Checkpoint(model_name="test_resnet", model_config={"num_classes": 10, "in_channels": 3},
                                     preprocess=Preprocess(input_size=(32, 32), channels=3, mean=(0.5,) * 3,
                                                                     std=(0.25,) * 3),
                                     class_names=tuple(str(i) for i in range(10)),
                                     state_dict=model.state_dict()))
    return path


class _Foreign:
    pass


@pytest.mark.parametrize("kind, message", [
    ("text", "is corrupt or not a torch file"),
    ("folder", "is a folder: give the .pt file `edgebench train` wrote"),
    ("truncated", "is corrupt or not a torch file"),
    ("pickle", "is corrupt or not a torch file"),
    ("plain-dict", "is not an edgebench checkpoint (train one with `edgebench train`)"),
    ("nan-weights", "holds NaN or infinite values"),
])
def test_bad_checkpoints_are_one_line_naming_the_file(tmp_path, kind, message):
    import torch

    path = tmp_path / "given.pt"
    if kind == "text":
        path.write_text("this is a README, not weights\n")
    elif kind == "folder":
        path.mkdir()
    elif kind == "truncated":
        data = _real_checkpoint(tmp_path / "real.pt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(_Foreign()))
    elif kind == "plain-dict":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        checkpoint = torch.load(_real_checkpoint(tmp_path / "real.pt"), weights_only=True)
        next(iter(checkpoint["state_dict"].values())).fill_(float("nan"))
        torch.save(checkpoint, path)
    result = run(tmp_path, "prune", "test_resnet", "--checkpoint", str(path), "--out", str(tmp_path / "p"))
    line = one_error_line(result.output)
    assert result.exit_code == 1 and line.startswith(f"error: checkpoint {path}") and message in line
