"""`device_agent run` options out of range, unknown names, special files as --out, and --resume with other
settings: one line naming the option, exit 2, nothing measured or written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .test_agent_bundle import FAST, agent, bundle, pristine, refused, snapshot  # noqa: F401 (fixtures)


@pytest.mark.parametrize("options, message", [
    (("--threads", "-1"), "--threads -1 is out of range: give 0 (the runtime's choice) or more"),
    (("--threads", "two"), "--threads 'two' is not a whole number: give 0 (the runtime's choice) or more"),
    (("--threads", "1,-2"), "--threads -2 is out of range"),
    (("--threads", "1,,2"), "--threads '1,,2' is not a comma-separated list without empty items"),
    (("--threads", "2,2"), "--threads '2,2' names a value twice; give each once"),
    (("--xnnpack", "maybe"), "--xnnpack 'maybe' is unknown; valid: on, off"),
    (("--xnnpack", "on,"), "--xnnpack 'on,' is not a comma-separated list without empty items"),
    (("--ort-graph-optimization", "max"), "--ort-graph-optimization 'max' is unknown; valid: disable, basic, "
                                          "extended, all"),
    (("--ort-execution-mode", "sequential,async"), "--ort-execution-mode 'async' is unknown; valid: sequential, "
                                                   "parallel"),
    (("--rounds", "0"), "--rounds 0 is out of range: give 1 or more"),
    (("--rounds", "ten"), "argument --rounds: invalid int value: 'ten'"),
    (("--target-ci", "0"), "--target-ci 0 is out of range: give a percentage of the p50 above 0 and below 100"),
    (("--target-ci", "nan"), "--target-ci nan is out of range"),
    (("--target-ci", "100"), "--target-ci 100 is out of range"),
    (("--sustained", "0"), "--sustained 0 is out of range: give a finite number of seconds, more than 0"),
    (("--sustained", "inf"), "--sustained inf is out of range"),
    (("--profile-runs", "0"), "--profile-runs 0 is out of range: give 1 or more"),
    (("--cooldown", "-5"), "--cooldown -5 is out of range: give seconds (a finite number, 0 or more, e.g. 45) or a "
                           "temperature between 0 and 150 C (e.g. 45C)"),
    (("--cooldown", "hotC"), "--cooldown hotC is out of range"),
    (("--cooldown", "200C"), "--cooldown 200C is out of range"),
    (("--cooldown", "45F"), "--cooldown 45F is out of range"),
    (("--affinity", "99"), "--affinity: CPU 99 is not available; this process may use CPUs"),
    (("--affinity", "-3"), "--affinity: CPU -3 is not available"),
    (("--affinity", "abc"), "argument --affinity: 'abc' is not a comma-separated list of CPU numbers"),
    (("--affinity", ","), "argument --affinity: ',' names no CPU"),
    (("--eval-limit", "0"), "--eval-limit 0 is out of range: give 1 or more"),
    (("--eval-limit", "-1"), "--eval-limit -1 is out of range"),
    (("--min-runs", "0"), "--min-runs 0 is out of range: give a whole number of at least 1"),
    (("--warmup-runs", "-1"), "--warmup-runs -1 is out of range"),
    (("--min-seconds", "nan"), "--min-seconds nan is out of range: give a finite number of seconds, 0 or more"),
    (("--min-seconds", "-1"), "--min-seconds -1.0 is out of range"),
    (("--max-seconds", "inf"), "--max-seconds inf is out of range"),
    (("--max-seconds", "0"), "--max-seconds 0.0 is out of range: give a finite number of seconds, more than 0"),
    (("--warmup-seconds=-inf",), "--warmup-seconds -inf is out of range"),
    (("--min-seconds", "5", "--max-seconds", "1"), "--min-seconds 5 is more than --max-seconds 1"),
    (("--cooldown", "nan"), "--cooldown nan is out of range"),
    (("--backend", "tensorrt"), "--backend 'tensorrt' is unknown; valid: null, onnxruntime, tflite"),
    (("--artifacts", "onnx-int4"), "--artifacts: 'onnx-int4' is not in the bundle; valid: onnx-fp32, onnx-fp32-again"),
    (("--no-such-option",), "unrecognized arguments: --no-such-option"),
])
def test_options_out_of_range(bundle, tmp_path, options, message):
    line = refused(bundle, tmp_path, *options, code=2)
    assert line.startswith("error: ") and message in line
    assert not (tmp_path / "result.json").exists()


@pytest.mark.parametrize("target, kind", [
    ("/dev/full", "not a regular file (a device, pipe or socket)"),
    ("/dev/null", "not a regular file (a device, pipe or socket)"),
    ("fifo", "not a regular file (a device, pipe or socket)"),
    ("link-to-null", "not a regular file (a device, pipe or socket)"),
    ("dangling", "a symbolic link to a missing file"),
    ("file/result.json", "is not a folder"),
])
def test_out_that_is_not_a_regular_file_is_refused(bundle, tmp_path, target, kind):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link-to-null").symlink_to("/dev/null")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "file").write_text("mine")
    out = target if target.startswith("/") else str(tmp_path / target)
    device = os.stat(out).st_rdev if target.startswith("/dev") else None
    before = snapshot(tmp_path)
    done = agent("run", str(bundle), "--out", out, *FAST)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: --out: cannot write {out}") and kind in done.stderr
    assert snapshot(tmp_path) == before
    if device is not None:
        assert os.stat(out).st_rdev == device  # still the device node


def test_out_folder_gets_a_named_result(bundle, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    done = agent("run", str(bundle), "--out", str(folder), *FAST)
    assert done.returncode == 0, done.stderr
    (written,) = folder.iterdir()
    assert written.name.startswith("bundle__") and json.loads(written.read_text())["complete"] is True
    assert done.stdout.strip() == str(written)


@pytest.fixture
def finished(bundle, tmp_path) -> Path:
    """A result of the bundle's first artifact with the FAST settings."""
    out = tmp_path / "first.json"
    done = agent("run", str(bundle), "--out", str(out), "--artifacts", "onnx-fp32", *FAST)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("options, message", [
    (("--threads", "2"), "was measured with threads 1, this run asks for 2"),
    (("--backend", "null"), "was measured with backend null, this run asks for \"null\""),
    (("--min-runs", "4"), "was measured with min_runs 3, this run asks for 4"),
    (("--eval-limit", "5"), "was measured with eval_limit null, this run asks for 5"),
    (("--affinity", "0"), "was measured with affinity null, this run asks for [0]"),
    (("--no-accuracy",), "was measured with accuracy true, this run asks for false"),
    (("--rounds", "3"), "was measured with rounds 10, this run asks for 3"),
    (("--no-interleave",), "was measured with interleave true, this run asks for false"),
    (("--target-ci", "5"), "was measured with target_ci_pct null, this run asks for 5.0"),
    (("--xnnpack", "off"), "was measured with sweep {\"threads\": [1], \"xnnpack\": [true], "),
    (("--device-name", "elsewhere"), "was measured on device name"),
])
def test_resume_with_other_settings_is_refused(bundle, tmp_path, finished, options, message):
    before = finished.read_bytes()
    line = refused(bundle, tmp_path, "--resume", str(finished), *options, code=2)
    assert line.startswith(f"error: --resume {finished} ") and message in line
    assert finished.read_bytes() == before


def test_resume_of_another_bundle_or_a_broken_result(bundle, tmp_path, finished):
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["model"]["name"] = "renamed"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert "was measured on another bundle: manifest sha256" in refused(bundle, tmp_path, "--resume", str(finished),
                                                                          code=2)
    result = json.loads(finished.read_text())
    result["runs"][0]["latency_ms"]["p50"] = -1
    finished.write_text(json.dumps(result))
    line = refused(bundle, tmp_path, "--resume", str(finished), code=2)
    assert "runs[0].latency_ms.p50 is -1; it must be at least 0" in line
    finished.write_text("{\"runs\": [")
    assert f"--resume {finished} cannot be read" in refused(bundle, tmp_path, "--resume", str(finished), code=2)


def test_resume_with_the_same_settings_keeps_the_finished_run(bundle, tmp_path, finished):
    first = json.loads(finished.read_text())["runs"][0]
    done = agent("run", str(bundle), "--out", str(finished), "--resume", str(finished), *FAST)
    assert done.returncode == 0, done.stderr
    runs = json.loads(finished.read_text())["runs"]
    assert [r["artifact"] for r in runs] == ["onnx-fp32", "onnx-fp32-again"]
    assert runs[0]["resumed"] is True and runs[0]["latency_ms"] == first["latency_ms"]
