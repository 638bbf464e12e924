"""The agent as it runs on a device: its own minimal environment, old Pythons, a missing runtime, Ctrl-C."""

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import FAST_TIMING, ROOT

AGENT_PYTHON = ROOT / ".venv-agent" / "bin" / "python"


@pytest.fixture(scope="module")
def device_copy(tmp_path_factory):
    """device_agent/ alone in a folder, as copied to a Raspberry Pi: edgebench is not importable from there."""
    folder = tmp_path_factory.mktemp("device")
    shutil.copytree(ROOT / "device_agent", folder / "device_agent", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_agent_in_a_minimal_environment(device_copy, int8_bundle, tmp_path):
    if not AGENT_PYTHON.exists():
        pytest.skip("no .venv-agent: `make test` creates it (numpy + onnxruntime + ai-edge-litert only)")
    listed = subprocess.run([str(AGENT_PYTHON), "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "torch" not in installed and "edgebench" not in installed and "click" not in installed
    out = tmp_path / "r.json"
    done = subprocess.run([str(AGENT_PYTHON), "-m", "device_agent", "run", str(int8_bundle), "--out", str(out),
                           *FAST_TIMING], cwd=device_copy, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert [r["error"] for r in result["runs"]] == [None, None]
    assert result["device"]["versions"]["onnxruntime"] and result["device"]["versions"].get("psutil") is None
    assert result["runs"][0]["memory"]["peak_rss_mb"] > 0  # /proc, no psutil needed


def test_agent_source_runs_on_python_3_9():
    vermin = shutil.which("vermin", path=str(ROOT / ".venv" / "bin"))
    if vermin is None:
        pytest.skip("vermin is not installed (pip install 'edgebench[dev]')")
    done = subprocess.run([vermin, "--no-tips", "--violations", "-t=3.9-", "--eval-annotations",
                           "--backport", "dataclasses", str(ROOT / "device_agent")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_missing_runtime_gives_the_install_line(monkeypatch):
    from device_agent.backends import backend_for
    from device_agent.errors import AgentError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it was never installed
    with pytest.raises(AgentError) as caught:
        backend_for("onnx")
    assert str(caught.value) == "onnxruntime is not installed on this device: pip install onnxruntime"


def test_ctrl_c_keeps_the_finished_runs(int8_bundle, tmp_path):
    out = tmp_path / "r.json"
    process = subprocess.Popen([sys.executable, "-m", "device_agent", "run", str(int8_bundle), "--out", str(out),
                                "--warmup-seconds", "0", "--min-seconds", "1", "--max-seconds", "1",
                                "--artifacts", "onnx-fp32,onnx-int8,onnx-fp32", "--no-interleave"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 120
    while time.time() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if line.startswith("[3/3]"):
            break
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130, "".join(lines)
    result = json.loads(out.read_text())
    assert result["complete"] is False and result["error"] == "interrupted"
    assert [r["artifact"] for r in result["runs"]] == ["onnx-fp32", "onnx-int8"]
    assert all(r["latency_ms"]["n"] >= 1 for r in result["runs"])
