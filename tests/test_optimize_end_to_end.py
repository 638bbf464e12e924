"""`edgebench optimize` end to end on a small model: on this machine (`--device local`) and over ssh against the
test sshd; a re-run costs 0 device seconds, an interrupted run continues, budget 0 gives a complete report."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.cli import cli
from tests.conftest import FAST_TIMING, run_agent
from tests.test_bench_ssh import AGENT_PYTHON, devices_file, sshd  # noqa: F401 (the sshd fixture)

pytestmark = pytest.mark.slow
ARGS = ("test_resnet", "--max-drop", "1", "--format", "onnx", "--threads", "1", "--graph-optimization", "all,disable",
        "--eval-size", "100", "--calibration-size", "32", "--device-budget", "3m", "--quiet")


def optimize(out: Path, *extra):
    result = CliRunner().invoke(cli, ["optimize", *ARGS, "--out", str(out), *extra], catch_exceptions=False)
    report = json.loads((out / "optimize.json").read_text()) if (out / "optimize.json").is_file() else None
    return result, report


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("optimize") / "test_resnet"
    result, report = optimize(out)
    assert result.exit_code == 0, result.stderr
    return out, result, report


def test_local_end_to_end(local_run):
    out, result, report = local_run
    assert result.stdout.strip().splitlines()[-1] == report["answer"]
    assert report["answer"].startswith(f"ship {report['decision']['winner']}")
    assert sum(report["counts"].values()) == len(report["candidates"]) == 3  # fp32, int8, int8-mix
    assert report["counts"]["winner"] == 1 and report["device_seconds"]["spent"] > 0
    assert set(report["device_seconds"]["by_stage"]) <= {"screening", "sweep", "confirmation"}
    (manifest,) = [json.loads((out / "winner" / "manifest.json").read_text())]
    assert [a["name"] for a in manifest["artifacts"]] == [report["decision"]["winner"]]
    done = run_agent("run", str(out / "winner"), "--out", str(out.parent / "winner.json"), *FAST_TIMING)
    assert done.returncode == 0, done.stderr
    runs = json.loads((out.parent / "winner.json").read_text())["runs"]
    assert len(runs) == 1 and runs[0]["error"] is None and runs[0]["accuracy"]["count"] == 100


def test_rerun_costs_no_device_seconds(local_run, tmp_path):
    out, _, first = local_run
    copy = tmp_path / "again"
    shutil.copytree(out, copy)
    result, report = optimize(copy)
    assert result.exit_code == 0, result.stderr
    assert report["device_seconds"]["spent"] == 0.0 and report["device_seconds"]["cached_measurements"] >= 2
    assert report["answer"].replace(str(copy), "OUT") == first["answer"].replace(str(out), "OUT")


def test_an_interrupted_run_continues_where_it_stopped(local_run, tmp_path):
    out, _, first = local_run
    copy = tmp_path / "cut"
    shutil.copytree(out, copy)
    entries = {path: json.loads(path.read_text()) for path in (copy / "cache" / "device").glob("*.json")}
    (last,) = [path for path, entry in entries.items() if "--no-accuracy" not in entry["args"]]  # the confirmation
    last.unlink()
    result, report = optimize(copy)
    assert result.exit_code == 0, result.stderr
    assert report["device_seconds"]["cached_measurements"] == len(entries) - 1
    assert set(report["device_seconds"]["by_stage"]) == {"confirmation"}


def test_budget_zero_gives_a_complete_report(local_run, tmp_path):
    out, _, _ = local_run
    copy = tmp_path / "zero"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "cache" / "device")
    result, report = optimize(copy, "--device-budget", "0")
    assert result.exit_code == 0, result.stderr
    assert report["device_seconds"]["spent"] == 0.0 and report["decision"]["winner"] is None
    host_survivors = [c for c in report["candidates"] if c["reason"] not in ("duplicate", "accuracy-drop",
                                                                             "export-refused")]
    assert host_survivors and {c["reason"] for c in host_survivors} == {"budget-exhausted"}
    assert report["answer"].startswith("no answer:") and (copy / "optimize.html").is_file()


def test_over_ssh_against_the_test_sshd(local_run, sshd, tmp_path):  # noqa: F811
    if not AGENT_PYTHON.exists():
        pytest.skip("no .venv-agent (make test creates it)")
    from edgebench.optimize.journal import Journal

    out, _, _ = local_run
    devices = devices_file(tmp_path, sshd)
    remote = tmp_path / "remote"
    identity = json.loads((out / "journal.json").read_text())["identity"]
    Journal.open(remote, dict(identity, device="pi"))
    shutil.copytree(out / "cache" / "exports", remote / "cache" / "exports")  # the host stage is the same
    result, report = optimize(remote, "--device", "pi", "--devices", str(devices))
    assert result.exit_code == 0, result.stderr
    assert report["device"] == "pi" and report["device_seconds"]["spent"] > 0
    assert report["counts"]["winner"] == 1 and sum(report["counts"].values()) == 3
    assert report["device_fingerprint"]["versions"]["onnxruntime"]
