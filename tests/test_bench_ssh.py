"""`edgebench bench` against a real OpenSSH server on loopback, started by the test with its own keys."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgebench.cli import cli
from tests.conftest import ROOT

SSHD = Path("/usr/sbin/sshd")
AGENT_PYTHON = ROOT / ".venv-agent" / "bin" / "python"
pytestmark = pytest.mark.skipif(not SSHD.exists() or shutil.which("ssh") is None,
                                reason="OpenSSH server not installed (.ci/run installs openssh-server)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("starting sshd for the tests needs root")
    folder = tmp_path_factory.mktemp("sshd")
    host_key, user_key = keygen(folder / "host_key"), keygen(folder / "user_key")
    keygen(folder / "stranger_key")
    (folder / "authorized_keys").write_text((folder / "user_key.pub").read_text())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"AuthorizedKeysFile {folder}/authorized_keys",
        f"PidFile {folder}/sshd.pid", "StrictModes no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "UsePAM no", "PermitRootLogin yes", "Subsystem sftp internal-sftp", ""]))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)

    def start():
        subprocess.run([str(SSHD), "-f", str(config), "-E", str(folder / "sshd.log")], check=True)
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("sshd did not start")

    def stop():
        pid_file = folder / "sshd.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
            time.sleep(0.3)

    start()
    yield {"port": port, "key": user_key, "stranger": folder / "stranger_key", "folder": folder, "start": start,
           "stop": stop}
    stop()


def devices_file(tmp_path, sshd, *, python=None, key=None, port=None, workdir=None) -> Path:
    path = tmp_path / "devices.yaml"
    path.write_text(yaml.safe_dump({"pi": {
        "host": "127.0.0.1", "user": "root", "port": port or sshd["port"], "python": str(python or AGENT_PYTHON),
        "identity": str(key or sshd["key"]), "threads": 1, "workdir": str(workdir or tmp_path / "device"),
        "ssh_options": ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"]}}))
    return path


def bench(*args):
    return CliRunner().invoke(cli, ["bench", *args])


FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--warmup-runs", "1"]


def test_export_bench_over_ssh_report(sshd, int8_bundle, tmp_path):
    if not AGENT_PYTHON.exists():
        pytest.skip("no .venv-agent (make test creates it)")
    devices = devices_file(tmp_path, sshd)
    results = tmp_path / "results"
    first = bench(str(int8_bundle), "--device", "pi", "--devices", str(devices), "--results", str(results), *FAST)
    assert first.exit_code == 0, first.output
    from edgebench.devices.bench import AGENT_SOURCE
    from edgebench.devices.deploy import local_files

    everything = len(local_files(AGENT_SOURCE)) + len(local_files(int8_bundle))
    assert f"copied {everything} changed file(s)" in first.output and "checksums verified" in first.output
    assert "[2/2] onnx-int8" in first.output  # the agent's progress, streamed back
    (result_path,) = (results / "pi").glob("*.json")
    result = json.loads(result_path.read_text())
    assert result["device"]["name"] == "pi" and result["complete"] is True
    assert [r["error"] for r in result["runs"]] == [None, None]
    # Nothing changed: nothing is copied again, and the second result gets its own name.
    second = bench(str(int8_bundle), "--device", "pi", "--devices", str(devices), "--results", str(results), *FAST)
    assert second.exit_code == 0 and "copied 0 changed file(s)" in second.output
    assert len(list((results / "pi").glob("*.json"))) == 2
    report = CliRunner().invoke(cli, ["report", str(results)])
    assert report.exit_code == 0
    assert sum(line.startswith("pi ") for line in report.output.splitlines()) == 4  # 2 runs x 2 artifacts


def test_unreachable_host(sshd, int8_bundle, tmp_path):
    result = bench(str(int8_bundle), "--device", "pi", "--devices",
                   str(devices_file(tmp_path, sshd, port=free_port())), "--results", str(tmp_path / "r"))
    assert result.exit_code == 1 and "error: cannot reach root@127.0.0.1" in result.output
    assert not (tmp_path / "r").exists()


def test_refused_key(sshd, int8_bundle, tmp_path):
    result = bench(str(int8_bundle), "--device", "pi", "--devices",
                   str(devices_file(tmp_path, sshd, key=sshd["stranger"])), "--results", str(tmp_path / "r"))
    assert result.exit_code == 1 and "error: authentication refused by root@127.0.0.1" in result.output


def test_remote_python_without_runtime(sshd, int8_bundle, tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    result = bench(str(int8_bundle), "--device", "pi", "--devices",
                   str(devices_file(tmp_path, sshd, python=bare / "bin" / "python")), "--results", str(tmp_path / "r"))
    assert result.exit_code == 1
    assert "numpy is not installed" in result.output and "pip install numpy onnxruntime" in result.output
    missing = bench(str(int8_bundle), "--device", "pi", "--devices",
                    str(devices_file(tmp_path, sshd, python="/nonexistent/python3")), "--results", str(tmp_path / "r"))
    assert missing.exit_code == 1 and "does not run there" in missing.output


def _processes():
    """(pid, parent pid, command line, working folder) of every process this user can see."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            folder = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        yield int(entry), parent, command, folder


def _wait_gone(pid: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}"), f"process {pid} is still running"


@pytest.mark.slow  # 27 s: two agent runs over ssh with a connection cut between them
def test_dropped_connection_then_retry_continues(sshd, int8_bundle, tmp_path):
    if not AGENT_PYTHON.exists():
        pytest.skip("no .venv-agent (make test creates it)")
    devices = devices_file(tmp_path, sshd)
    results = tmp_path / "results"
    device_folder = tmp_path / "device"
    timing = ["--warmup-runs", "1", "--min-seconds", "4", "--max-seconds", "4"]
    command = [sys.executable, "-m", "edgebench", "bench", str(int8_bundle), "--device", "pi", "--devices",
               str(devices), "--results", str(results), "--artifacts", "onnx-fp32,onnx-int8", *timing]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.lstrip().startswith("round 1/10"):  # the first round is measured and saved on the device
            break
    # The ssh client of this bench, and the agent it started on the "device" (run from the device's workdir).
    (client,) = [pid for pid, parent, cmd, _ in _processes()
                 if parent == process.pid and cmd.startswith("ssh ") and f"-p {sshd['port']} root@127.0.0.1" in cmd]
    (remote_agent,) = [pid for pid, _, cmd, folder in _processes()
                       if cmd.startswith(f"{AGENT_PYTHON} -m device_agent run ") and folder == str(device_folder)]
    os.kill(client, signal.SIGTERM)  # the connection drops ...
    os.kill(remote_agent, signal.SIGHUP)  # ... and the device hangs up the agent's session
    output = "".join(seen) + process.stdout.read()
    assert process.wait(timeout=60) == 1, output
    assert "the run stopped early" in output or "dropped" in output, output
    assert not results.exists() or not list(results.rglob("*.json"))
    _wait_gone(remote_agent)
    # The device keeps the cut run: both configurations with the rounds done so far, marked partial.
    kept = json.loads((device_folder / "results" / f"{int8_bundle.name}.partial.json").read_text())
    assert kept["complete"] is False and kept["error"] == "terminated by SIGHUP"
    assert [r["artifact"] for r in kept["runs"]] == ["onnx-fp32", "onnx-int8"]
    for run in kept["runs"]:
        done = run["partial"]["rounds_done"]
        assert 1 <= done < 10 and run["partial"]["rounds_planned"] == 10 and len(run["rounds_ms"]) == done
    # Other settings than the cut run's are refused (its timings would be relabelled), and nothing is taken.
    other = bench(str(int8_bundle), "--device", "pi", "--devices", str(devices), "--results", str(results),
                  "--artifacts", "onnx-fp32,onnx-int8", *FAST)
    assert other.exit_code == 1 and "error: the agent on pi refused the run: --resume" in other.stderr
    assert not results.exists() or not list(results.rglob("*.json"))
    # The same settings: the cut configurations are measured again, all rounds interleaved.
    retry = bench(str(int8_bundle), "--device", "pi", "--devices", str(devices), "--results", str(results),
                  "--artifacts", "onnx-fp32,onnx-int8", *timing)
    assert retry.exit_code == 0, retry.output
    assert "resuming: 0 configuration(s) already measured, 2 to go (2 of them cut off in their rounds" in retry.output
    (result_path,) = (results / "pi").glob("*.json")
    result = json.loads(result_path.read_text())
    assert result["complete"] is True and [r["artifact"] for r in result["runs"]] == ["onnx-fp32", "onnx-int8"]
    for run in result["runs"]:
        assert "resumed" not in run and "partial" not in run and run["error"] is None
        assert len(run["rounds_ms"]) == 10 and run["latency_ms"]["n"] > 5
    assert not (device_folder / "results" / f"{int8_bundle.name}.partial.json").exists()


def _broken_model_bundle(tmp_path):
    """A bundle whose model the runtime cannot load: its checksum matches, so only the device can tell."""
    from tests.badinput.test_devices_bench import make_bundle, manifest_of, write_manifest

    bundle = make_bundle(tmp_path)
    (bundle / "model.onnx").write_bytes(b"this is not an ONNX model")
    manifest = manifest_of(bundle)
    manifest["artifacts"][0].update(sha256=hashlib.sha256(b"this is not an ONNX model").hexdigest(), bytes=25)
    write_manifest(bundle, manifest)
    return bundle


def test_failing_remote_agent(sshd, tmp_path):
    if not AGENT_PYTHON.exists():
        pytest.skip("no .venv-agent (make test creates it)")
    bundle = _broken_model_bundle(tmp_path)
    result = bench(str(bundle), "--device", "pi", "--devices", str(devices_file(tmp_path, sshd)),
                   "--results", str(tmp_path / "r"), *FAST)
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 artifact(s) failed on the device, first: onnxruntime cannot load")
    (kept,) = (tmp_path / "r" / "pi").glob("*.json")
    assert json.loads(kept.read_text())["runs"][0]["error"]


def test_remote_agent_that_dies_without_a_result(sshd, tmp_path):
    if not AGENT_PYTHON.exists():
        pytest.skip("no .venv-agent (make test creates it)")
    from tests.badinput.test_devices_bench import make_bundle

    dying = tmp_path / "python-that-dies"  # passes the Python check, then dies as a crashing runtime would
    dying.write_text(f"#!/bin/sh\ncase \"$*\" in \"-m device_agent\"*) echo 'Segmentation fault' >&2; exit 139;; esac\n"
                     f"exec {AGENT_PYTHON} \"$@\"\n")
    dying.chmod(0o755)
    result = bench(str(make_bundle(tmp_path)), "--device", "pi", "--devices",
                   str(devices_file(tmp_path, sshd, python=dying)), "--results", str(tmp_path / "r"), *FAST)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == "error: the agent on pi wrote no result (exit 139): " \
                                                     "Segmentation fault"
    assert not list((tmp_path / "r").rglob("*.json"))
