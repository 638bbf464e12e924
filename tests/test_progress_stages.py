"""Stage times in what prune, ablation and train write; `--quiet` draws no bars even on a terminal and still
prints every stage with its seconds; a bad value with `--quiet` is refused as before."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading

import pytest
from click.testing import CliRunner

from edgebench.ablation import AblationSpec, run_ablation
from edgebench.cli import cli
from edgebench.prune.pipeline import SUMMARY_FILE, prune_checkpoint
from edgebench.prune.spec import PruneSpec
from edgebench.train import TrainSpec, load_checkpoint

STAGE_LINE = re.compile(r"^ *(?P<stage>.+): (?P<seconds>[0-9.]+) s$")


def _stages(records):
    return [(record["stage"], record.get("depth", 0)) for record in records]


def _positive_floats(records):
    assert records and all(isinstance(r["seconds"], float) and r["seconds"] > 0 for r in records), records


def test_prune_records_and_prints_each_stage(trained_checkpoint, tmp_path):
    lines = []
    rows = prune_checkpoint(str(trained_checkpoint), None, PruneSpec(iterations=1, finetune_epochs=0),
                            tmp_path / "p", log=lines.append)
    summary = json.loads((tmp_path / "p" / SUMMARY_FILE).read_text())
    assert [row["iteration"] for row in rows] == [0, 1]
    assert _stages(summary["stage_times"]) == [
        ("checkpoint and data", 0), ("baseline evaluation", 0), ("prune step 1 (to 20.0 %)", 0), ("fine-tune 1", 0),
        ("save 1", 0)]
    _positive_floats(summary["stage_times"])
    printed = {m["stage"]: float(m["seconds"]) for m in map(STAGE_LINE.match, lines) if m}
    recorded = {r["stage"]: r["seconds"] for r in summary["stage_times"]}
    assert set(printed) == set(recorded)  # every recorded stage was printed, with its seconds (2 decimals)
    assert all(abs(printed[name] - recorded[name]) <= 0.01 + 0.001 * recorded[name] for name in recorded)
    # The stage lines come before the iteration line that says its checkpoint is written.
    assert lines.index(next(line for line in lines if line.startswith("save 1: "))) < \
        lines.index(next(line for line in lines if line.startswith("iteration 1: ")))


def test_ablation_records_its_stages_and_each_variants(tmp_path):
    # The sweep over one tiny zoo model (a study variant trains the same way, only slower).
    spec = AblationSpec(arch="resnet101", variants=("test_resnet",),
                        train=TrainSpec(epochs=1, batch_size=32, lr=0.05, train_limit=64))
    lines = []
    run_ablation(spec, tmp_path, log=lines.append)
    written = json.loads((tmp_path / "ablation.json").read_text())
    assert _stages(written["stage_times"]) == [("variants (1 to train)", 0), ("table and plots", 0)]
    _positive_floats(written["stage_times"])
    (row,) = written["rows"]
    assert _stages(row["stage_times"]) == [("train", 0), ("measure", 0)]
    _positive_floats(row["stage_times"])
    assert row["stage_times"][0]["seconds"] <= written["stage_times"][0]["seconds"]
    assert any(line.startswith("variants (1 to train): ") and line.endswith(" s") for line in lines)
    # The variant's training stages, printed in its own log.
    log = (tmp_path / "logs" / "test_resnet.log").read_text().splitlines()
    assert [STAGE_LINE.match(line)["stage"] for line in log if STAGE_LINE.match(line)] == \
        ["data", "training (1 epochs)", "checkpoint", "train", "measure"]


def _terminal():
    """A pseudo-terminal 120 columns wide (a bar is drawn only on a terminal, and tqdm draws nothing in zero
    columns): (leader, follower) descriptors."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    return leader, follower


def _run_on_a_terminal(args, timeout=120.0):
    """Run `args` with stdout and stderr on a pseudo-terminal; (exit code, all it printed, as bytes)."""
    leader, follower = _terminal()
    child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    reader = threading.Thread(target=_drain, args=(leader, chunks), daemon=True)
    reader.start()
    try:
        child.wait(timeout=timeout)
        reader.join(timeout=timeout)
    finally:
        os.close(leader)
    return child.returncode, b"".join(chunks)


def test_the_commands_reporter_draws_bars_on_a_terminal():
    """The control for the test below: the reporter every command makes draws tqdm frames on this terminal."""
    code, output = _run_on_a_terminal([sys.executable, "-c", (
        "import time\nfrom edgebench.cli.options import reporter\nprogress = reporter(False)\n"
        "with progress.stage('work'):\n    for _ in progress.bar(range(3), desc='images'):\n        time.sleep(0.05)")])
    assert code == 0, output
    assert b"images:" in output and b"%|" in output and b"\r " in output  # a bar's frames
    assert re.search(rb"work: [0-9.]+ s", output)


def _in_process_on_a_terminal(args, monkeypatch):
    """Run the command line here with stdout on a pseudo-terminal 120 columns wide (no interpreter to start, torch
    already imported); (exit code, all it printed). The descriptors the command opened on the terminal (its
    progress's copy of stdout) are closed after it."""
    leader, follower = _terminal()
    terminal = os.ttyname(follower)
    before = set(os.listdir("/proc/self/fd"))
    chunks = []
    reader = threading.Thread(target=_drain, args=(leader, chunks), daemon=True)
    reader.start()
    with os.fdopen(follower, "w", buffering=1) as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        try:
            code = cli.main(args, prog_name="edgebench", standalone_mode=False) or 0
        finally:
            monkeypatch.undo()
            for fd in set(os.listdir("/proc/self/fd")) - before:
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/self/fd/{fd}") == terminal:
                        os.close(int(fd))
    reader.join(timeout=30)
    os.close(leader)
    return code, b"".join(chunks)


def _drain(leader: int, chunks) -> None:
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # every writer closed the terminal
            return
        if not chunk:
            return
        chunks.append(chunk)


def test_quiet_train_on_a_terminal_prints_stage_lines_and_no_bar(tmp_path, monkeypatch):
    out = tmp_path / "t.pt"
    code, output = _in_process_on_a_terminal(["train", "test_resnet", "--epochs", "1", "--limit", "64",
                                              "--batch-size", "16", "--out", str(out), "--quiet"], monkeypatch)
    text = output.decode()
    assert code == 0, text
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    assert "\r" not in text.replace("\r\n", "\n")  # no bar frame: each line ends where it started
    assert "%|" not in text
    printed = [m["stage"] for m in map(STAGE_LINE.match, lines) if m]
    assert printed == ["data", "training (1 epochs)", "checkpoint"]
    assert any(line.startswith("  epoch 1/1: 4/4 done in ") for line in lines)  # the bar as one plain line
    # The checkpoint records the stages it was written after.
    recorded = load_checkpoint(out).extra["stage_times"]
    assert _stages(recorded) == [("data", 0), ("training (1 epochs)", 0)]
    _positive_floats(recorded)


@pytest.mark.parametrize("args, message", [
    (["train", "test_resnet", "--quiet", "--epochs", "0"], "--epochs"),
    (["export", "test_resnet", "--quiet", "--eval-size", "-3"], "--eval-size"),
    (["prune", "test_resnet", "--checkpoint", "x.pt", "--quiet", "--amount", "1.5"], "--amount"),
])
def test_bad_values_with_quiet_are_refused_before_any_work(args, message, tmp_path):
    result = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_python_caller_passes_its_own_progress_into_the_int8_export(tmp_path):
    import edgebench as eb
    from edgebench.progress import Progress

    stream = io.StringIO()
    progress = Progress(enabled=True, quiet=True, stream=stream)
    bundle = eb.export("test_resnet", int8=True, formats="onnx", eval_size=16, calibration_size=16,
                       out=tmp_path / "b", progress=progress)
    stages = _stages(progress.records())
    assert stages == _stages(bundle.manifest["stage_times"])  # the caller's list is the manifest's
    assert ("calibration (minmax, 16 images) and quantization", 3) in stages
    assert ("int8 trial: u8s8-rr", 2) in stages and ("onnx-int8", 0) in stages
    text = stream.getvalue()
    assert "\r" not in text
    assert re.search(r"^ +calibration images \(minmax\): 16/16 done in [0-9.]+ s$", text, re.M)
    assert len(re.findall(r"^ +eval images: 16/16 done in [0-9.]+ s$", text, re.M)) == 2  # each gate's bar
    assert re.search(r"^onnx-int8: [0-9.]+ s$", text, re.M)
