"""`edgebench prune` and `prune-study` with bad options, foreign or earlier output folders, hand-edited summaries and
SIGTERM mid-run: one line, the documented exit code, nothing half-written, nothing of the user's replaced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import assert_unchanged, fill_disk, one_error_line, tree_snapshot
from .test_train import _real_checkpoint, run

ROOT = Path(__file__).resolve().parents[2]
QUICK = ("--data", "digits", "--limit", "64", "--finetune-epochs", "0", "--iterations", "1")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return _real_checkpoint(tmp_path_factory.mktemp("ckpt") / "test_resnet.pt")


@pytest.mark.parametrize("args, message", [
    (["--sparsity", "1.5"], "--sparsity 1.5 is out of range: give a number in [0, 1)"),
    (["--sparsity", "nan"], "--sparsity nan is not a finite number"),
    (["--amount", "0"], "--amount 0 is out of range: give a number in (0, 1)"),
    (["--iterations", "0"], "--iterations 0 is out of range: give a whole number >= 1"),
    (["--finetune-epochs", "-1"], "--finetune-epochs -1 is out of range: give a whole number >= 0"),
    (["--lr", "inf"], "--lr inf is not a finite number"),
    (["--limit", "0"], "--limit 0 is out of range"),
])
def test_bad_prune_options_exit_2(tmp_path, checkpoint, args, message):
    result = run(tmp_path, "prune", "test_resnet", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "p"),
                 *args)
    assert result.exit_code == 2 and message in one_error_line(result.output)


def test_prune_never_replaces_a_folder_of_the_users(tmp_path, checkpoint):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("\\documentclass{article}")
    for force in ([], ["--force"]):
        result = run(tmp_path, "prune", "test_resnet", "--checkpoint", str(checkpoint), "--out", str(mine), *QUICK,
                     *force)
        assert result.exit_code == 1
        assert one_error_line(result.output) == (f"error: {mine} exists and was not created by edgebench: it is never "
                                                 "replaced; choose another output folder")


def test_prune_replaces_its_own_output_only_with_force(tmp_path, checkpoint):
    out = tmp_path / "p"
    first = run(tmp_path, "prune", "test_resnet", "--checkpoint", str(checkpoint), "--out", str(out), *QUICK,
                ignore=[out])
    assert first.exit_code == 0, first.output
    summary = json.loads((out / "pruning.json").read_text())
    assert summary["iterations"][1]["file"] == str(out.absolute() / "test_resnet-l1-unstructured-01.pt")
    assert Path(summary["iterations"][1]["file"]).is_file()
    again = run(tmp_path, "prune", "test_resnet", "--checkpoint", str(checkpoint), "--out", str(out), *QUICK)
    assert again.exit_code == 1
    assert one_error_line(again.output) == (f"error: {out.absolute()} already exists: pass --force to replace it, or "
                                            "choose another output folder")
    forced = run(tmp_path, "prune", "test_resnet", "--checkpoint", str(checkpoint), "--out", str(out), *QUICK,
                 "--force", ignore=[out])
    assert forced.exit_code == 0 and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_sigterm_mid_prune_leaves_nothing(tmp_path, checkpoint):
    out = tmp_path / "p"
    before = tree_snapshot(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "edgebench", "prune", "test_resnet", "--checkpoint", str(checkpoint), "--out", str(out),
         "--data", "digits", "--limit", "128", "--finetune-epochs", "1", "--iterations", "8"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in process.stdout:  # the first iteration's checkpoint is on disk, in the hidden folder
            if line.startswith("iteration 1:"):
                break
        else:
            pytest.fail(f"prune ended before its first iteration: {process.communicate()[1][-2000:]}")
        hidden = [p for p in tmp_path.iterdir() if p.name.startswith(".p.")]
        assert len(hidden) == 1 and any(hidden[0].iterdir())
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143
    assert [line for line in stderr.splitlines() if line.strip()] == ["terminated: nothing half-written was kept"]
    assert_unchanged(before, tmp_path)


def test_prune_study_refuses_a_folder_without_a_summary(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    result = run(tmp_path, "prune-study", str(folder))
    assert result.exit_code == 1
    assert one_error_line(result.output) == (f"error: {folder} holds no pruning.json: run `edgebench prune` with --out "
                                             f"{folder} first")


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ('{"model": "test_resnet", "spec": {}, "data": "digits", "iterations": {"0": 1}}', "is not a pruning summary"),
    ('{"model": "test_resnet", "spec": {}, "data": "digits", "iterations": [{"iteration": 0}]}',
     "is not a pruning summary"),
    ('{"model": 3, "spec": {}, "data": "digits", "iterations": []}', "has no 'model' string"),
])
def test_prune_study_refuses_a_hand_edited_summary(tmp_path, content, message):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "pruning.json").write_text(content)
    result = run(tmp_path, "prune-study", str(folder))
    line = one_error_line(result.output)
    assert result.exit_code == 1 and line.startswith(f"error: {folder / 'pruning.json'}") and message in line


@pytest.mark.parametrize("args, message", [
    (["--threads", "0"], "--threads 0 is out of range"),
    (["--min-seconds", "nan"], "--min-seconds nan is not a finite number"),
    (["--min-seconds", "-1"], "--min-seconds -1 is out of range: give a number > 0"),
])
def test_prune_study_bad_options_exit_2(tmp_path, args, message):
    result = run(tmp_path, "prune-study", str(tmp_path), *args)
    assert result.exit_code == 2 and message in one_error_line(result.output)


def test_prune_study_never_writes_into_a_folder_of_the_users(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "pruning.json").write_text(json.dumps({"model": "test_resnet", "spec": {"method": "channel"},
                                                     "data": "digits", "iterations": []}))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("1,2\n")
    result = run(tmp_path, "prune-study", str(folder), "--out", str(mine))
    assert result.exit_code == 1
    assert one_error_line(result.output) == (f"error: {mine} exists and was not created by edgebench: it is never "
                                             "replaced; choose another output folder")


def test_prune_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, checkpoint, tiny_tmpfs):
    fill_disk(tiny_tmpfs, leave=16 * 1024)
    out = tiny_tmpfs / "p"
    result = run(tmp_path, "prune", "test_resnet", "--checkpoint", str(checkpoint), "--out", str(out), *QUICK,
                 ignore=[tiny_tmpfs])
    assert result.exit_code == 1
    assert one_error_line(result.output) == (f"error: cannot write {out / 'test_resnet-l1-unstructured-01.pt'}: no space "
                                             "left on the device")
    assert [p.name for p in tiny_tmpfs.iterdir()] == [".filler"]
