"""`edgebench ablation` on a disk that fills while the variants train: the sweep stops at the first variant that
cannot write its checkpoint (every later one would fail the same way), in one line naming the file, exit 1, no
half-written checkpoint, and the settings kept for the same command to continue once there is room."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import ROOT

from .conftest import fill_disk, one_error_line


def test_a_disk_that_fills_during_the_sweep_stops_at_the_first_variant(tiny_tmpfs):
    fill_disk(tiny_tmpfs, leave=32 * 1024)
    out = tiny_tmpfs / "a"
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "edgebench"), "ablation", "--arch", "vgg19", "--variants",
                           "1,2", "--epochs", "1", "--limit", "32", "--batch-size", "16", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 1, done.stderr
    line = one_error_line(done.stdout + done.stderr)
    assert line.startswith(f"error: cannot write {out / 'checkpoints' / 'vgg19-v1.pt'}")
    assert line.endswith(": no space left on the device")
    assert "vgg19-v2" not in done.stdout + done.stderr  # stopped at the first variant, not tried for each
    assert list((out / "checkpoints").iterdir()) == []  # no half-written checkpoint
    assert json.loads((out / "ablation-settings.json").read_text())["arch"] == "vgg19"
