"""The TFLite branch in a worker process beside the ONNX stages (`edgebench.export.tflite.worker`): the same bytes
as in process, its stage times recorded, its failures said as the in-process path says them, and no process or
folder left behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

EDGEBENCH = str(ROOT / ".venv" / "bin" / "edgebench")


def _export(out: Path, setting: str, precisions: str = "fp32,int8", limits: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGEBENCH_TFLITE_WORKER": setting}
    if limits:
        env["EDGEBENCH_STAGE_LIMITS"] = limits
    return subprocess.run([EDGEBENCH, "export", "test_resnet", "--format", "onnx,tflite", "--precisions", precisions,
                           "--calibration-size", "32", "--eval-size", "64", "--quiet", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_worker_writes_the_bytes_the_in_process_path_writes(tmp_path):
    inside, worker = tmp_path / "inside", tmp_path / "worker"
    for out, setting in ((inside, "off"), (worker, "on")):
        done = _export(out, setting)
        assert done.returncode == 0, done.stderr
    for name in ("model.fp32.tflite", "model.int8.tflite"):
        assert _sha(worker / name) == _sha(inside / name), name
    manifests = [json.loads((out / "manifest.json").read_text()) for out in (inside, worker)]
    tflite = [{a["name"]: a for a in m["artifacts"] if a["format"] == "tflite"} for m in manifests]
    assert sorted(tflite[1]) == ["tflite-fp32", "tflite-int8"]
    for name in tflite[1]:
        assert tflite[1][name]["quantization"] == tflite[0][name]["quantization"]
        assert tflite[1][name]["check"] == tflite[0][name]["check"]
        assert tflite[1][name]["export_seconds"] > 0
    elsewhere = {s["stage"]: s for s in manifests[1]["stage_times"] if s.get("elsewhere")}
    assert sorted(elsewhere) == ["fp32 in the worker process", "int8 in the worker process",
                                 "onnx2tf in the worker process"]
    assert all(s["seconds"] > 0 for s in elsewhere.values())
    assert not any(s.get("elsewhere") for s in manifests[0]["stage_times"])
    assert "onnx2tf (in the worker process)" in done.stdout
    assert sorted(p.name for p in worker.iterdir()) == sorted(p.name for p in inside.iterdir())  # no worker folder


def test_a_worker_over_its_onnx2tf_limit_costs_the_tflite_format_only(tmp_path):
    out = tmp_path / "bundle"
    done = _export(out, "on", limits="onnx2tf=0.05")
    assert done.returncode == 3, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(a["name"] for a in manifest["artifacts"]) == ["onnx-fp32", "onnx-int8"]
    reasons = {r["name"]: r["reason"] for r in manifest["rejected"]}
    assert sorted(reasons) == ["tflite-fp32", "tflite-int8"]
    assert all(r.startswith("the onnx2tf stage ran past its limit of 0.05 s") for r in reasons.values()), reasons
    assert not list(out.glob("*.tflite")) and not (out / ".tflite-worker").exists()


def test_a_bad_worker_setting_is_refused_before_any_work(tmp_path):
    out = tmp_path / "bundle"
    done = _export(out, "sometimes")
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: EDGEBENCH_TFLITE_WORKER: 'sometimes' is not a setting: give auto, on, "
                                   "off")
    assert "Traceback" not in done.stderr and not out.exists()


@pytest.mark.parametrize("setting, size, budget, cores, expected", [
    ("auto", 32 * 2**20, False, 2, True),
    ("auto", 32 * 2**20 - 1, False, 2, False),   # a small model: starting TensorFlow again costs more
    ("auto", 170 * 2**20, False, 1, False),      # one core: nothing to run beside
    ("auto", 170 * 2**20, True, 2, False),       # an int8 budget drives the converter in process
    ("on", 1, False, 1, True),
    ("off", 170 * 2**20, False, 2, False),
])
def test_when_the_worker_runs(monkeypatch, setting, size, budget, cores, expected):
    from edgebench.export.tflite import worker

    monkeypatch.setenv(worker.VARIABLE, setting)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert worker.wanted(["int8"], size, budget) is expected
    assert worker.wanted([], size, budget) is False  # no TFLite precision: no worker


def test_a_worker_that_dies_is_said_with_its_signal_and_leaves_nothing(tmp_path):
    from edgebench.errors import EdgebenchError
    from edgebench.export.tflite.worker import TfliteWorker

    worker = TfliteWorker.start(tmp_path / "job")
    assert worker.running()
    os.kill(worker.process.pid, signal.SIGKILL)
    with pytest.raises(EdgebenchError, match=r"^the TFLite worker process was killed by signal 9 before onnx2tf "
                                             r"finished.*the ONNX artifacts are not affected$"):
        worker.setup()
    assert not worker.running()
    worker.close()
    assert not (tmp_path / "job").exists()


def test_a_worker_whose_export_is_gone_stops_waiting(tmp_path):
    """The export killed before it handed over a job: its worker notices and ends instead of waiting forever."""
    script = ("import sys; from pathlib import Path; from edgebench.export.tflite.worker import TfliteWorker; "
              "print(TfliteWorker.start(Path(sys.argv[1])).process.pid)")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "job")], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    pid = int(done.stdout.strip())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False


@pytest.mark.slow
def test_a_large_zoo_model_takes_the_worker_by_default(tmp_path):
    """vgg19 (about 80 MiB of fp32 weights) under the default `auto`: the TFLite branch ran in the worker, and its
    artifact passed the same gate."""
    out = tmp_path / "bundle"
    env = {key: value for key, value in os.environ.items() if key != "EDGEBENCH_TFLITE_WORKER"}
    done = subprocess.run([EDGEBENCH, "export", "--int8", "vgg19", "--calibration-size", "32", "--eval-size", "64",
                           "--quiet", "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=1200,
                          env=env)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["name"] for a in manifest["artifacts"]] == ["onnx-fp32", "onnx-int8", "tflite-int8"]
    elsewhere = [s["stage"] for s in manifest["stage_times"] if s.get("elsewhere")]
    assert elsewhere == ["onnx2tf in the worker process", "int8 in the worker process"]
    assert manifest["artifacts"][2]["gate"]["passed"] and (out / "model.int8.tflite").stat().st_size > 2**20
