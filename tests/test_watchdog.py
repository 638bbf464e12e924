"""The agent's watchdog: a configuration whose measuring process hangs (a backend that never returns, a real
runtime process stopped by SIGSTOP) is killed with its process group after its deadline, recorded as timed out,
and the other configurations are measured; the run exits 1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from tests.badinput.test_agent_bundle import _sha, agent, read_manifest, tiny_bundle, write_manifest
from tests.conftest import ROOT

FAST = ("--warmup-runs", "1", "--warmup-seconds", "0", "--min-runs", "5", "--min-seconds", "0.05",
        "--max-seconds", "0.5", "--rounds", "3")


@pytest.fixture(scope="module")
def two_files(tmp_path_factory) -> Path:
    """Two ONNX artifacts in two files (a hang can be asked for one file only)."""
    folder = tiny_bundle(tmp_path_factory.mktemp("watchdog") / "bundle")
    shutil.copy(folder / "model.fp32.onnx", folder / "model.b.onnx")
    manifest = read_manifest(folder)
    first = manifest["artifacts"][0]
    manifest["artifacts"] = [first, dict(first, name="onnx-b", file="model.b.onnx",
                                         sha256=_sha(folder / "model.b.onnx"))]
    write_manifest(folder, manifest)
    return folder


def _stat(pid: int) -> List[str]:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def _children(pid: int) -> List[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat(int(entry))
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append((int(fields[19]), int(entry)))
    return [child for _, child in sorted(found)]


def _result(path: Path) -> Dict:
    return json.loads(path.read_text())


def test_a_backend_that_never_returns_is_killed_and_the_rest_measured(two_files, tmp_path):
    out = tmp_path / "r.json"
    started = time.monotonic()
    done = agent("run", str(two_files), "--out", str(out), "--backend", "null", "--timeout", "1.5", *FAST,
                 env={"EDGEBENCH_AGENT_NULL_CRASH": "hang:model.fp32.onnx"}, timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    hung_text = ("timed out after 1.5 s (loading the model): the measuring process gave no answer and was killed "
                 "with its process group")
    assert done.stderr.splitlines()[-1] == f"error: 1 of 2 artifact(s) failed: onnx-fp32: {hung_text}"
    hung, kept = _result(out)["runs"]
    assert hung["error"] == hung_text and "latency_ms" not in hung
    assert kept["error"] is None and len(kept["rounds_ms"]) == 3 and kept["latency_ms"]["n"] >= 15
    assert _result(out)["settings"]["timeout_seconds"] == 1.5
    assert elapsed < 30  # the hang (an hour's sleep) cost its 1.5 s deadline, not the run


def test_a_runtime_process_stopped_by_sigstop_is_killed_with_its_group(two_files, tmp_path):
    out = tmp_path / "r.json"
    process = subprocess.Popen([sys.executable, "-m", "device_agent", "run", str(two_files), "--out", str(out),
                                "--timeout", "2", "--warmup-runs", "1", "--warmup-seconds", "0", "--min-runs", "5",
                                "--min-seconds", "0.5", "--max-seconds", "1", "--rounds", "10"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    said = []
    while not said or not said[-1].startswith("round 1/"):
        said.append(process.stderr.readline())
        assert said[-1], "".join(said)
    first, second = _children(process.pid)
    assert int(_stat(second)[2]) == second  # each child leads its own process group
    os.kill(second, signal.SIGSTOP)  # a real onnxruntime process that will never answer again
    assert process.wait(timeout=120) == 1, process.stderr.read()
    # deadline: --timeout plus twice the round's budget (max-seconds 1 over 10 rounds)
    stopped = ("timed out after 2.2 s (a timing round): the measuring process gave no answer and was killed with "
               "its process group")
    assert process.stderr.read().splitlines()[-1] == f"error: 1 of 2 artifact(s) failed: onnx-b: {stopped}"
    kept, killed = _result(out)["runs"]
    assert kept["config"] == "onnx-fp32" and killed["config"] == "onnx-b", [run["error"] for run in (kept, killed)]
    assert killed["error"] == stopped and not {"partial", "latency_ms", "rounds_ms"} & set(killed)
    assert kept["error"] is None and kept["backend"] == "onnxruntime" and len(kept["rounds_ms"]) == 10
    assert kept["accuracy"]["count"] == 16
    assert not os.path.exists(f"/proc/{second}") and not os.path.exists(f"/proc/{first}")


def test_timeout_out_of_range_is_refused(two_files, tmp_path):
    for bad in ("nan",):  # 0, negative and infinite values take the same path
        done = agent("run", str(two_files), "--out", str(tmp_path / "r.json"), "--timeout", bad)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            f"error: --timeout {float(bad):g} is out of range: give a finite number of seconds, more than 0, e.g. 60"]


# -- the host's converter stages ---------------------------------------------------------------------------------
def test_a_python_level_stall_ends_at_the_stage_limit():
    from edgebench.export.watchdog import StageTimeout, stage_limit

    started = time.monotonic()
    with pytest.raises(StageTimeout, match=r"^the tflite-int8 stage ran past its limit of 0\.3 s "):
        with stage_limit("tflite-int8", 0.3):
            time.sleep(30)
    assert 0.25 < time.monotonic() - started < 3


def test_a_stalled_tool_is_killed_and_an_outer_limit_goes_on():
    from edgebench.export.watchdog import StageTimeout, stage_limit

    started = time.monotonic()
    with pytest.raises(StageTimeout, match="^the onnx2tf stage"):
        with stage_limit("onnx2tf", 2.0):
            with pytest.raises(StageTimeout, match="^the tflite-fp32 stage ran past its limit of 0.3 s"):
                with stage_limit("tflite-fp32", 0.3):
                    subprocess.run(["sleep", "60"], check=False)  # the way onnx2tf runs onnxsim
            assert time.monotonic() - started < 3
            time.sleep(30)
    assert 1.9 < time.monotonic() - started < 5
    assert subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "^sleep 60$"]).returncode == 1  # none left


def test_a_wrapped_alarm_is_still_the_stage_that_failed():
    from edgebench.export.watchdog import StageTimeout, stage_limit

    with pytest.raises(StageTimeout, match="^the tflite-int8 stage"):
        with stage_limit("tflite-int8", 0.2):
            try:
                time.sleep(10)
            except StageTimeout as exc:  # TensorFlow turns a callback's exception into its own
                raise RuntimeError("calibration failed") from exc


@pytest.mark.parametrize("text, message", [
    ("tflite-int9=3", "unknown stage 'tflite-int9'; valid: onnx2tf, onnx-fp32"),
    ("tflite-int8=0", "'tflite-int8=0' is not a limit: give seconds above 0"),
    ("soon", "'soon' is not a limit"),
])
def test_bad_stage_limits_are_refused(text, message):
    from edgebench.errors import EdgebenchError
    from edgebench.export.watchdog import limits

    with pytest.raises(EdgebenchError, match=message):
        limits(text)
    assert limits("tflite-int8=600, 900") == {"*": 900.0, "tflite-int8": 600.0}


@pytest.mark.slow
def test_a_converter_stage_over_its_limit_fails_that_artifact_only(tmp_path):
    out = tmp_path / "bundle"
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "edgebench"), "export", "test_resnet", "--format", "tflite",
                           "--precisions", "fp32,int8", "--calibration-size", "32", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "EDGEBENCH_STAGE_LIMITS": "tflite-int8=0.05"})
    assert done.returncode == 3, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(a["name"] for a in manifest["artifacts"]) == ["onnx-fp32", "tflite-fp32"]
    (rejected,) = [r for r in manifest["rejected"] if r["name"] == "tflite-int8"]
    assert rejected["reason"].startswith("the tflite-int8 stage ran past its limit of 0.05 s")
    assert not (out / "model.int8.tflite").exists()
