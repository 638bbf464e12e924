"""`edgebench ablation` with bad options, a folder of the user's, hand-edited progress files and SIGTERM mid-sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.ablation import AblationSpec, run_ablation
from edgebench.errors import EdgebenchError
from edgebench.train import TrainSpec
from .conftest import assert_unchanged, one_error_line, tree_snapshot
from .test_train import run

ROOT = Path(__file__).resolve().parents[2]
TINY = ("--variants", "13", "--epochs", "1", "--limit", "32", "--batch-size", "32", "--device", "cpu")


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs 0 is out of range: give a whole number >= 1"),
    (["--limit", "-1"], "--limit -1 is out of range"),
    (["--batch-size", "0"], "--batch-size 0 is out of range"),
    (["--lr", "nan"], "--lr nan is not a finite number"),
    (["--max-drop", "-1"], "--max-drop -1 is out of range: give a number >= 0"),
    (["--max-drop", "inf"], "--max-drop inf is not a finite number"),
    (["--seed", "-1"], "--seed -1 is out of range"),
])
def test_bad_ablation_options_exit_2(tmp_path, args, message):
    result = run(tmp_path, "ablation", "--arch", "resnet101", "--out", str(tmp_path / "a"), *args)
    assert result.exit_code == 2 and message in one_error_line(result.output)


def test_ablation_never_writes_into_a_folder_of_the_users(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "paper.md").write_text("# results\n")
    result = run(tmp_path, "ablation", "--arch", "resnet101", *TINY, "--out", str(mine))
    assert result.exit_code == 1
    assert one_error_line(result.output) == (f"error: {mine} exists and was not created by edgebench: it is never "
                                             "replaced; choose another output folder")


def _spec() -> AblationSpec:
    return AblationSpec(arch="resnet101", variants=("resnet101-v13",),
                        train=TrainSpec(epochs=1, batch_size=32, train_limit=32, augment=()))


@pytest.mark.parametrize("name, content, message", [
    ("ablation-settings.json", "{truncated", "ablation-settings.json is not valid JSON"),
    ("ablation-settings.json", "[1, 2]", "ablation-settings.json holds a list, not an object"),
    ("variants/resnet101-v13.json", "", "resnet101-v13.json is not valid JSON"),
    ("variants/resnet101-v13.json", '{"variant": "resnet101-v13"}', "resnet101-v13.json has no accuracy"),
])
def test_hand_edited_progress_files_are_one_line(tmp_path, name, content, message):
    from edgebench.ablation.run import _settings

    out = tmp_path / "a"
    (out / "variants").mkdir(parents=True)
    (out / "ablation-settings.json").write_text(json.dumps(_settings(_spec())))
    (out / name).write_text(content)
    before = tree_snapshot(tmp_path)
    with pytest.raises(EdgebenchError, match=message) as caught:
        run_ablation(_spec(), out, log=lambda line: None)
    assert "\n" not in str(caught.value) and "delete it to redo" in str(caught.value)
    assert_unchanged(before, tmp_path)


@pytest.mark.slow
def test_sigterm_mid_sweep_keeps_finished_work_and_no_temporaries(tmp_path):
    out = tmp_path / "a"
    process = subprocess.Popen(
        [sys.executable, "-m", "edgebench", "ablation", "--arch", "resnet101", "--variants", "13", "--epochs", "6",
         "--limit", "128", "--batch-size", "32", "--device", "cpu", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in process.stdout:  # epoch 1's training state is being written after this line
            if "epoch 1/6" in line:
                break
        else:
            pytest.fail(f"ablation ended before its first epoch: {process.communicate()[1][-2000:]}")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == [f"terminated: finished variants are kept in {out}; the same command continues the sweep"]
    leftovers = [str(p) for p in tmp_path.rglob(".*") if p.name.endswith(".tmp")]
    assert leftovers == [] and (out / "ablation-settings.json").is_file()
    assert not (out / "checkpoints" / "resnet101-v13.pt").exists()


def test_ablation_into_a_read_only_folder_is_one_line(tmp_path, read_only_dir):
    out = read_only_dir / "a"
    result = run(tmp_path, "ablation", "--arch", "resnet101", *TINY, "--out", str(out), ignore=[read_only_dir])
    assert result.exit_code == 1
    assert one_error_line(result.output) in (f"error: cannot write {out}: the file system is read-only",
                                             f"error: cannot write {out}: permission denied")
    assert list(read_only_dir.iterdir()) == []
