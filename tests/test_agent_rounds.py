"""Configurations, interleaved rounds, cold start, the comparison and the measuring children: the agent run on
real bundles (a hand-made ONNX model and a real int8 TFLite file) with the real runtimes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import jsonschema
import numpy as np
import pytest

from device_agent.configs import Setting, Sweep, configurations
from device_agent.errors import AgentError
from device_agent.isolation import Child, ChildFailed
from device_agent.schema import load_schema, validate
from tests.badinput.test_agent_bundle import agent, pool_classifier_onnx, tiny_bundle, write_manifest

ROOT = Path(__file__).resolve().parents[1]
QUICK = ("--warmup-runs", "1", "--warmup-seconds", "0", "--min-runs", "3", "--min-seconds", "0")
VGG_INT8_TFLITE = ROOT / "tests" / "data" / "vgg19-v13-int8.tflite"  # XNNPACK declines it: built-in kernels
QUANTIZATION = {"method": "static", "mixed_precision": {"max_drop_pp": 1.0, "status": "mixed",
                                                        "chosen": {"float_layers": ["/features/0/Conv"]}}}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _classifier_onnx(path: Path) -> None:
    """A real ten-class classifier on 32x32 RGB: global average pool, then a 3x10 matrix."""
    pool_classifier_onnx(path, np.random.default_rng(1).normal(size=(3, 10)), size=32)


@pytest.fixture(scope="module")
def two_formats(tmp_path_factory) -> Path:
    """An ONNX and a TFLite artifact of one 32x32 ten-class task, with 8 real evaluation images."""
    folder = tmp_path_factory.mktemp("two-formats") / "bundle"
    folder.mkdir()
    _classifier_onnx(folder / "model.onnx")
    shutil.copy(VGG_INT8_TFLITE, folder / "model.int8.tflite")
    rng = np.random.default_rng(0)
    np.savez(folder / "eval.npz", images=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, 8).astype(np.int64))
    check = {"reference": "self", "count": 8, "top1_agreement": 1.0, "max_abs_diff": 0.0}
    onnx_entry = {"name": "onnx-fp32", "format": "onnx", "precision": "fp32", "file": "model.onnx",
                  "sha256": _sha(folder / "model.onnx"), "bytes": (folder / "model.onnx").stat().st_size,
                  "input": {"name": "input", "shape": [-1, 3, 32, 32], "layout": "NCHW", "dtype": "float32"},
                  "output": {"name": "logits", "shape": [-1, 10], "dtype": "float32"}, "check": check}
    tflite_entry = {"name": "tflite-int8", "format": "tflite", "precision": "int8", "file": "model.int8.tflite",
                    "sha256": _sha(folder / "model.int8.tflite"),
                    "bytes": (folder / "model.int8.tflite").stat().st_size,
                    "input": {"name": "input", "shape": [1, 32, 32, 3], "layout": "NHWC", "dtype": "int8"},
                    "output": {"name": "logits", "shape": [1, 10], "dtype": "int8"}, "check": check,
                    "quantization": QUANTIZATION}
    write_manifest(folder, {
        "schema_version": 1, "kind": "edgebench.bundle", "model": {"name": "pool", "source": "onnx", "trained": False},
        "preprocess": {"input_size": [32, 32], "channels": 3, "mean": [0.5], "std": [0.25], "scale": 255.0},
        "class_names": [str(i) for i in range(10)],
        "eval": {"file": "eval.npz", "sha256": _sha(folder / "eval.npz"), "count": 8, "layout": "NHWC",
                 "dtype": "uint8"},
        "artifacts": [onnx_entry, tflite_entry]})
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """Two ONNX artifacts (one model file) on 8x8 inputs: the cheapest real bundle."""
    return tiny_bundle(tmp_path_factory.mktemp("tiny") / "bundle")


def _result(path: Path) -> Dict:
    result = json.loads(path.read_text())
    validate(result, "result", str(path))
    jsonschema.validate(result, load_schema("result"))
    return result


def _rotations(labels: List[str], rounds: int) -> List[List[str]]:
    return [labels[r % len(labels):] + labels[:r % len(labels)] for r in range(rounds)]


def test_configuration_labels_per_format():
    onnx = {"name": "onnx-int8", "format": "onnx"}
    tflite = {"name": "tflite-int8", "format": "tflite"}
    sweep = Sweep(threads=(1, 2), xnnpack=(True, False))
    assert [(c.label, c.setting) for c in configurations([onnx, tflite], sweep)] == [
        ("onnx-int8 threads=1 opt=all mode=sequential", Setting(threads=1, ort_graph_optimization="all",
                                                                ort_execution_mode="sequential")),
        ("onnx-int8 threads=2 opt=all mode=sequential", Setting(threads=2, ort_graph_optimization="all",
                                                                ort_execution_mode="sequential")),
        ("tflite-int8 threads=1 xnnpack=on", Setting(threads=1, xnnpack=True)),
        ("tflite-int8 threads=1 xnnpack=off", Setting(threads=1, xnnpack=False)),
        ("tflite-int8 threads=2 xnnpack=on", Setting(threads=2, xnnpack=True)),
        ("tflite-int8 threads=2 xnnpack=off", Setting(threads=2, xnnpack=False))]
    # One setting per artifact: the label is the name; a name given twice is measured twice.
    assert [c.label for c in configurations([onnx, tflite, onnx, onnx], Sweep(xnnpack=(False,)))] == \
        ["onnx-int8", "tflite-int8", "onnx-int8#2", "onnx-int8#3"]
    assert [c.label for c in configurations([onnx], Sweep(ort_execution_mode=("sequential", "parallel")))] == \
        ["onnx-int8 threads=1 opt=all mode=sequential", "onnx-int8 threads=1 opt=all mode=parallel"]
    assert Setting(threads=2, xnnpack=False).backend_options("tflite") == {"xnnpack": False}
    assert Setting(threads=2, xnnpack=False).backend_options("null") == {}


def test_sweep_over_both_formats(two_formats, tmp_path):
    out = tmp_path / "r.json"
    done = agent("run", str(two_formats), "--out", str(out), *QUICK, "--threads", "1,2", "--xnnpack", "on,off",
                 "--rounds", "3", "--cooldown", "0.1")
    assert done.returncode == 0, done.stderr
    result = _result(out)
    labels = ["onnx-fp32 threads=1 opt=all mode=sequential", "onnx-fp32 threads=2 opt=all mode=sequential",
              "tflite-int8 threads=1 xnnpack=on", "tflite-int8 threads=1 xnnpack=off",
              "tflite-int8 threads=2 xnnpack=on", "tflite-int8 threads=2 xnnpack=off"]
    runs = result["runs"]
    assert [r["config"] for r in runs] == labels and all(r["error"] is None for r in runs)
    assert [r["setting"]["threads"] for r in runs] == [1, 2, 1, 1, 2, 2]
    assert [r["setting"]["xnnpack"] for r in runs] == [None, None, True, False, True, False]
    assert [r["setting"]["ort_graph_optimization"] for r in runs] == ["all", "all", None, None, None, None]
    assert [r["delegate"].split(" (")[0] for r in runs[2:]] == ["none"] * 4  # XNNPACK declines this graph
    assert runs[2]["delegate"].startswith("none (XNNPACK could not prepare") and runs[3]["delegate"] == "none"
    assert [r["quantization"] for r in runs] == [None, None] + [QUANTIZATION] * 4
    # Three rounds, each configuration once per round, the order rotated by one each round.
    assert result["schedule"] == {"interleaved": True, "rounds": 3, "order": _rotations(labels, 3)}
    assert [len(r["rounds_ms"]) for r in runs] == [3] * 6
    assert [line.split(":")[0] for line in done.stderr.splitlines() if line.startswith("round ")] == \
        ["round 1/3", "round 2/3", "round 3/3"]
    for run in runs:
        latency = run["latency_ms"]
        low, high = latency["p50_ci95"]
        assert latency["n"] >= 3 and 0 < low <= high and latency["ci_method"] and latency["target_ci_met"] is None
        assert run["stability"]["verdict"] in ("stable", "noisy", "throttled", "too-short")
        cold = run["cold_start_ms"]
        assert cold["process_start_to_first_result"] >= cold["import"] + cold["load"] + cold["first_inference"]
        assert min(cold.values()) > 0 and cold["load"] == run["load_ms"]
    # Accuracy is measured once per artifact, in its first configuration's process.
    assert {r["accuracy"]["measured_in"] for r in runs[:2]} == {labels[0]}
    assert {r["accuracy"]["measured_in"] for r in runs[2:]} == {labels[2]}
    assert runs[0]["accuracy"]["count"] == 8 and runs[3]["accuracy"] == runs[2]["accuracy"]
    assert result["settings"]["sweep"] == {"threads": [1, 2], "xnnpack": [True, False],
                                           "ort_graph_optimization": ["all"], "ort_execution_mode": ["sequential"]}
    assert result["settings"]["threads"] == 1 and result["settings"]["rounds"] == 3
    assert [c["before"] for c in result["cooldowns"]] == ["before the rounds"] and \
        result["cooldowns"][0]["seconds"] >= 0.1
    comparison = result["comparison"]
    assert comparison["reference"] in labels and len(comparison["entries"]) == 5
    assert {e["config"] for e in comparison["entries"]} == set(labels) - {comparison["reference"]}
    # The ONNX model is a pooling and a 3x10 matrix, the TFLite one a VGG on built-in kernels: never close.
    assert comparison["reference"].startswith("onnx-fp32")
    assert all(e["verdict"] == "slower" for e in comparison["entries"] if e["config"].startswith("tflite"))


def test_same_artifact_twice_and_the_ranking_line(tiny, tmp_path):
    out = tmp_path / "r.json"
    done = agent("run", str(tiny), "--out", str(out), *QUICK, "--artifacts", "onnx-fp32,onnx-fp32", "--rounds", "6",
                 "--min-seconds", "0.3")
    assert done.returncode == 0, done.stderr
    result = _result(out)
    assert [(r["artifact"], r["config"]) for r in result["runs"]] == [("onnx-fp32", "onnx-fp32"),
                                                                    ("onnx-fp32", "onnx-fp32#2")]
    lines = done.stderr.splitlines()
    assert len([line for line in lines if line.startswith("round ")]) == 6
    (entry,) = result["comparison"]["entries"]
    low, high = entry["ratio_ci95"]
    assert {entry["config"], result["comparison"]["reference"]} == {"onnx-fp32", "onnx-fp32#2"}
    assert low <= entry["ratio"] <= high
    assert lines[-1] == (f"fastest: {result['comparison']['reference']}; {entry['config']} {entry['verdict']} "
                         f"(ratio {entry['ratio']:.2f} [{low:.2f}, {high:.2f}])")
    assert re.fullmatch(r"fastest: onnx-fp32(#2)?; onnx-fp32(#2)? \w+ \(ratio \d\.\d\d \[\d\.\d\d, \d+\.\d\d\]\)",
                        lines[-1])


def test_target_ci_adds_rounds_within_max_seconds(tiny, tmp_path):
    out = tmp_path / "r.json"
    done = agent("run", str(tiny), "--out", str(out), *QUICK, "--quiet", "--rounds", "6", "--min-seconds", "0.3",
                 "--max-seconds", "1", "--target-ci", "0.0001", "--no-accuracy")
    assert done.returncode == 0, done.stderr
    result = _result(out)
    rounds = result["schedule"]["rounds"]
    assert rounds > 6 and all(len(r["rounds_ms"]) == rounds for r in result["runs"])
    for run in result["runs"]:
        assert run["latency_ms"]["target_ci_met"] is False
        timed_seconds = run["latency_ms"]["mean"] * run["latency_ms"]["n"] / 1e3
        assert 0.3 <= timed_seconds <= 1.0 + 1.0 / 6  # the budget, plus at most one round's share
    done = agent("run", str(tiny), "--out", str(out), *QUICK, "--quiet", "--rounds", "6", "--target-ci", "50",
                 "--min-seconds", "0.3", "--no-accuracy")
    assert done.returncode == 0, done.stderr
    result = _result(out)
    assert result["schedule"]["rounds"] == 6 and all(r["latency_ms"]["target_ci_met"] for r in result["runs"])


def _children(pid: int) -> List[int]:
    """Processes whose parent is `pid`, oldest first."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append((int(fields[19]), int(entry)))
    return [child for _, child in sorted(found)]


def _agent_until(bundle: Path, out: Path, prefix: str, *extra: str) -> subprocess.Popen:
    """The agent started on `bundle`, once a line starting with `prefix` has come on its stderr."""
    process = subprocess.Popen([sys.executable, "-m", "device_agent", "run", str(bundle), "--out", str(out),
                                "--warmup-seconds", "0", *extra], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    said = []
    while not said or not said[-1].startswith(prefix):
        said.append(process.stderr.readline())
        assert said[-1], "".join(said)
    return process


def test_a_killed_child_costs_its_configuration_only(tiny, tmp_path):
    out = tmp_path / "r.json"
    process = _agent_until(tiny, out, "round 1/", "--min-seconds", "3", "--max-seconds", "3")
    first, second = _children(process.pid)
    os.kill(second, signal.SIGKILL)
    assert process.wait(timeout=120) == 1
    crashed = "the measuring process was killed by signal SIGKILL (a native crash in the runtime or the model)"
    assert process.stderr.read().splitlines()[-1] == f"error: 1 of 2 artifact(s) failed: onnx-fp32-again: {crashed}"
    result = _result(out)
    kept, killed = result["runs"]
    assert kept["error"] is None and len(kept["rounds_ms"]) == 10 and kept["accuracy"]["count"] == 16
    assert killed["config"] == "onnx-fp32-again" and killed["error"] == crashed
    assert not {"partial", "latency_ms", "rounds_ms"} & set(killed)  # its rounds so far went with it
    assert "partial" not in kept and "temperatures_after" in kept
    assert result["comparison"] is None and result["complete"] is True
    assert not os.path.exists(f"/proc/{first}")


def test_an_interruption_stops_every_child(tiny, tmp_path):
    out = tmp_path / "r.json"
    process = _agent_until(tiny, out, "[2/2]", "--min-seconds", "3", "--max-seconds", "3")
    children = _children(process.pid)
    process.send_signal(signal.SIGINT)  # before the first round: nothing timed to keep
    assert process.wait(timeout=60) == 130
    result = json.loads(out.read_text())
    assert result["complete"] is False and result["error"] == "interrupted" and result["runs"] == []
    said = process.stderr.read().splitlines()[-1]
    assert said == f"interrupted: 0 finished run(s) saved to {out} (marked incomplete)"
    assert len(children) == 2 and not any(os.path.exists(f"/proc/{child}") for child in children)


def test_an_interruption_keeps_the_rounds_and_resume_measures_them_again(tiny, tmp_path):
    out = tmp_path / "r.json"
    timing = ("--min-seconds", "1", "--max-seconds", "1", "--rounds", "10")
    process = _agent_until(tiny, out, "round 2/10", *timing)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    said = process.stderr.read().splitlines()[-1]
    result = _result(out)  # the interrupted result is schema-valid
    assert result["complete"] is False and result["error"] == "interrupted" and "comparison" not in result
    runs = result["runs"]
    assert [r["config"] for r in runs] == ["onnx-fp32", "onnx-fp32-again"]
    done = runs[0]["partial"]["rounds_done"]
    assert done >= 2 and result["schedule"]["rounds"] == done
    assert re.fullmatch(rf"interrupted: 0 finished run\(s\) and 2 partial \({done} of 10 rounds\) saved to "
                        rf"{re.escape(str(out))} \(marked incomplete\)", said)
    for run in runs:
        assert run["error"] is None and run["partial"] == {"rounds_done": done, "rounds_planned": 10}
        assert len(run["rounds_ms"]) == done and all(value > 0 for value in run["rounds_ms"])
        latency = run["latency_ms"]
        assert latency["n"] >= done and 0 < latency["min"] <= latency["p50"] <= latency["max"]
        assert latency["p50_ci95"][0] <= latency["p50"] <= latency["p50_ci95"][1]
        assert run["stability"]["verdict"] in ("stable", "noisy", "throttled", "too-short")
        assert run["cold_start_ms"]["load"] > 0 and "accuracy" not in run  # scored only once the rounds are over
    # Other settings are refused and leave the interrupted result as it was.
    before = out.read_bytes()
    refused = agent("run", str(tiny), "--out", str(out), "--resume", str(out), "--warmup-seconds", "0",
                    "--min-seconds", "1", "--max-seconds", "1", "--rounds", "5")
    assert refused.returncode == 2 and out.read_bytes() == before
    assert refused.stderr.startswith(f"error: --resume {out} was measured with rounds 10, this run asks for 5")
    # The same settings: both configurations measured again, all ten rounds interleaved.
    again = agent("run", str(tiny), "--out", str(out), "--resume", str(out), "--warmup-seconds", "0", *timing)
    assert again.returncode == 0, again.stderr
    assert "resuming: 0 configuration(s) already measured, 2 to go (2 of them cut off in their rounds: measured " \
           "again from the first round)" in again.stderr
    result = _result(out)
    assert result["complete"] is True and result["schedule"]["rounds"] == 10
    assert [r["config"] for r in result["runs"]] == ["onnx-fp32", "onnx-fp32-again"]
    for run in result["runs"]:
        assert "resumed" not in run and "partial" not in run and len(run["rounds_ms"]) == 10
        assert run["accuracy"]["count"] == 16 and run["latency_ms"]["n"] >= 10
    assert result["comparison"]["reference"] in ("onnx-fp32", "onnx-fp32-again")


def test_resume_keys_on_the_configuration(tiny, tmp_path):
    sweep = ("--artifacts", "onnx-fp32", "--threads", "1,2", "--rounds", "3", "--quiet")
    first = tmp_path / "first.json"
    assert agent("run", str(tiny), "--out", str(first), *QUICK, *sweep).returncode == 0
    result = _result(first)
    kept = result["runs"][1]
    assert kept["config"] == "onnx-fp32 threads=2 opt=all mode=sequential"
    result.update(runs=[kept], complete=False, error="interrupted")  # as if stopped after that configuration
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(result))
    out = tmp_path / "r.json"
    done = agent("run", str(tiny), "--out", str(out), "--resume", str(partial), *QUICK, *sweep)
    assert done.returncode == 0, done.stderr
    runs = _result(out)["runs"]
    assert [(r["config"], r.get("resumed", False)) for r in runs] == [
        ("onnx-fp32 threads=2 opt=all mode=sequential", True), ("onnx-fp32 threads=1 opt=all mode=sequential", False)]
    assert runs[0]["rounds_ms"] == kept["rounds_ms"]
    line = agent("run", str(tiny), "--out", str(out), "--resume", str(partial), *QUICK, *sweep[:4]).stderr
    assert line.startswith(f"error: --resume {partial} was measured with rounds 3, this run asks for 10")


def test_sustained_and_profile_run_in_the_child(tiny, tmp_path):
    out = tmp_path / "r.json"
    done = agent("run", str(tiny), "--out", str(out), *QUICK, "--quiet", "--artifacts", "onnx-fp32", "--rounds", "2",
                 "--sustained", "1", "--profile", "--profile-runs", "5", "--cooldown", "99C")
    assert done.returncode == 0, done.stderr
    result = _result(out)
    (run,) = result["runs"]
    assert run["profile"]["available"] is True and run["profile"]["runs"] == 5
    assert {entry["op_type"] for entry in run["profile"]["op_types"]} >= {"MatMul"}
    sustained = run["sustained"]
    assert sustained["seconds"] == pytest.approx(1, abs=0.1) and sustained["series"] and sustained["series"][0]["n"] > 0
    assert [c["before"] for c in result["cooldowns"]] == ["before the rounds", "before the sustained run of onnx-fp32"]
    assert all(c["target_c"] == 99 for c in result["cooldowns"])
    assert result["settings"]["profile"] is True and result["settings"]["sustained_seconds"] == 1
    assert result["settings"]["cooldown_temperature_c"] == 99


def test_a_minor_1_result_still_validates():
    result = {"schema_version": 1, "schema_minor": 1, "kind": "edgebench.result", "agent_version": "0.1.0",
              "created_utc": "2026-11-20T10:00:00+00:00", "complete": True, "error": None, "emulated": False,
              "bundle": {"path": "/b", "manifest_sha256": "0" * 64, "model": {"name": "m"}, "eval": None},
              "device": {"name": "pi", "machine": "aarch64", "system": "Linux", "emulated": False},
              "settings": {"threads": 1, "batch_size": 1, "min_runs": 50},
              "runs": [{"artifact": "onnx-fp32", "file": "m.onnx", "format": "onnx", "precision": "fp32",
                        "backend": "onnxruntime", "backend_version": "1.31.1", "error": None, "load_ms": 3.0,
                        "first_inference_ms": 1.0,
                        "latency_ms": {"n": 50, "mean": 1.0, "std": 0.1, "min": 0.9, "p50": 1.0, "p90": 1.1,
                                       "p95": 1.2, "p99": 1.3, "max": 1.4, "cv": 0.1},
                        "accuracy": {"top1": 0.9, "correct": 9, "count": 10}}]}
    validate(result, "result", "minor 1")
    jsonschema.validate(result, load_schema("result"))
    result["runs"][0]["setting"] = {"threads": "two"}  # and the new fields are checked where present
    with pytest.raises(AgentError, match=r"runs\[0\].setting.threads must be integer"):
        validate(result, "result", "edited")


def test_child_timeout_and_its_own_errors(tiny, monkeypatch):
    request = {"cmd": "load", "bundle": str(tiny), "artifact_index": 0, "backend": "null", "eval_limit": None,
               "setting": Setting().to_json(),
               "manifest_sha256": hashlib.sha256((tiny / "manifest.json").read_bytes()).hexdigest()}
    child = Child(quiet=True)
    with pytest.raises(AgentError, match="^unknown request 'nope'$"):
        child.request({"cmd": "nope"})
    with pytest.raises(AgentError, match="^request 'time' before a model was loaded$"):
        child.request({"cmd": "time", "min_runs": 1, "min_seconds": 0, "max_seconds": 1})
    assert child.request(request)["backend"] == "null"  # still usable after its own errors
    samples = child.request({"cmd": "time", "min_runs": 7, "min_seconds": 0, "max_seconds": 1})["samples_ns"]
    assert len(samples) == 7 and all(isinstance(s, int) and s > 0 for s in samples)
    assert child.request({"cmd": "close"}) == {}
    child.close()
    assert child.process.wait(timeout=5) == 0
    monkeypatch.setenv("EDGEBENCH_AGENT_NULL_CRASH", "hang")
    hung = Child(quiet=True)
    started = time.monotonic()
    with pytest.raises(ChildFailed, match=r"^gave no answer within 1 s \(stopped\)$"):
        hung.request(request, timeout=1)
    assert time.monotonic() - started < 10 and hung.process.poll() is not None


def test_bench_passes_rounds_and_no_interleave_to_the_agent(tiny, tmp_path):
    from click.testing import CliRunner

    from edgebench.cli import cli

    results = tmp_path / "results"
    refused = CliRunner().invoke(cli, ["bench", str(tiny), "--results", str(results), "--rounds", "0"])
    assert refused.exit_code == 1 and refused.stderr.strip() == "error: --rounds 0 is out of range: give 1 or more"
    assert not results.exists()
    done = CliRunner().invoke(cli, ["bench", str(tiny), "--results", str(results), "--warmup-runs", "1",
                                    "--min-runs", "3", "--min-seconds", "0", "--rounds", "3", "--no-interleave"])
    assert done.exit_code == 0, done.output
    assert "3 rounds, one configuration at a time" in done.output
    (path,) = (results / "local").glob("*.json")
    result = _result(path)
    assert result["settings"]["rounds"] == 3 and result["settings"]["interleave"] is False
    assert [len(r["rounds_ms"]) for r in result["runs"]] == [3, 3]
    assert result["schedule"]["order"] == [["onnx-fp32"]] * 3 + [["onnx-fp32-again"]] * 3
    swept = CliRunner().invoke(cli, ["bench", str(tiny), "--results", str(results), "--warmup-runs", "1",
                                     "--min-runs", "3", "--min-seconds", "0", "--rounds", "2", "--threads", "1,2",
                                     "--ort-graph-optimization", "basic", "--artifacts", "onnx-fp32", "--profile",
                                     "--profile-runs", "3", "--target-ci", "50", "--cooldown", "0"])
    assert swept.exit_code == 0, swept.output
    (path,) = set((results / "local").glob("*.json")) - {path}
    result = _result(path)
    assert [r["config"] for r in result["runs"]] == ["onnx-fp32 threads=1 opt=basic mode=sequential",
                                                     "onnx-fp32 threads=2 opt=basic mode=sequential"]
    assert all(r["profile"]["available"] and r["profile"]["runs"] == 3 for r in result["runs"])
    assert result["settings"]["target_ci_pct"] == 50


def test_a_second_agent_on_the_same_result_is_refused_while_the_first_measures(tiny, tmp_path):
    """A retry over ssh while the first run still goes on must not write the same result twice."""
    out = tmp_path / "r.json"
    first = _agent_until(tiny, out, "round 1/", "--min-seconds", "2", "--max-seconds", "2", "--no-accuracy")
    lock = tmp_path / ".r.json.lock"
    assert lock.read_text() == str(first.pid)
    second = agent("run", str(tiny), "--out", str(out), "--min-seconds", "2", "--no-accuracy")
    assert second.returncode == 2, second.stderr
    assert second.stderr.strip() == (f"error: --out {out}: another agent (pid {first.pid}) is measuring into this "
                                     "result; wait for it to finish, or give another --out")
    assert first.wait(timeout=120) == 0
    assert len(_result(out)["runs"]) == 2 and not lock.exists()  # the first run's result, whole; no lock left
    again = agent("run", str(tiny), "--out", str(out), "--min-seconds", "0", "--min-runs", "3", "--no-accuracy")
    assert again.returncode == 0, again.stderr  # free again once the first has finished
