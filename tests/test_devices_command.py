"""`edgebench devices`: this machine plus every device of the devices file, each checked and shown on one line;
a device that cannot be reached is reported in its row, and the command still exits 0."""

import importlib.util
import json
import socket
import sys

import pytest
from click.testing import CliRunner

from edgebench.cli import cli

RUNTIMES = ("onnxruntime", "ai_edge_litert", "tflite_runtime", "tensorflow")


def closed_port() -> int:
    """A loopback port nothing listens on: bound by the kernel, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def refused(port: int) -> str:
    """The row's status for a device whose port refuses the connection: ssh's own last line, after the address."""
    return f"cannot reach pi@127.0.0.1:{port}: ssh: connect to host 127.0.0.1 port {port}: Connection refused"


def this_machine() -> dict:
    """What the local check must find: it runs the probe with this same interpreter."""
    runtimes = [name for name in RUNTIMES if importlib.util.find_spec(name) is not None]
    numpy = importlib.util.find_spec("numpy") is not None
    status = "ok" if numpy and runtimes else "missing packages: pip install numpy onnxruntime ai-edge-litert"
    return {"name": "local", "address": "this machine", "status": status, "python": sys.version.split()[0],
            "runtimes": runtimes}


@pytest.fixture
def devices_yaml(tmp_path):
    port = closed_port()
    path = tmp_path / "devices.yaml"
    path.write_text(f"pi5:\n  host: 127.0.0.1\n  user: pi\n  port: {port}\n  python: python3\n")
    return path, port


def invoke(*args):
    return CliRunner().invoke(cli, ["devices", *args])


def test_devices_json_reports_this_machine_and_the_unreachable_device(devices_yaml):
    path, port = devices_yaml
    result = invoke("--devices", str(path), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == ["local", "pi5"]
    assert rows[0] == this_machine()
    remote = rows[1]
    assert remote["address"] == f"pi@127.0.0.1:{port}"
    assert remote["python"] is None and remote["runtimes"] == []
    assert remote["status"] == refused(port)


def test_devices_table_has_one_fixed_width_line_per_device(devices_yaml):
    path, port = devices_yaml
    result = invoke("--devices", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2  # a devices file was given: no hint line
    local = this_machine()
    assert lines[0] == (f"{'local':<12} {'this machine':<28} python {local['python']:<8} "
                        f"{','.join(local['runtimes']) or '-':<28} {local['status']}")
    assert lines[1] == f"{'pi5':<12} {f'pi@127.0.0.1:{port}':<28} python {'-':<8} {'-':<28} {refused(port)}"


def test_devices_without_a_devices_file_checks_this_machine_and_says_how_to_add_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/edgebench/devices.yaml
    monkeypatch.chdir(tmp_path)  # no ./devices.yaml
    result = invoke()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{'local':<12} {'this machine':<28} python {sys.version.split()[0]:<8} ")
    assert lines[1] == "(no devices file: write devices.yaml with name: {host, user, port, python, threads})"


def test_devices_with_a_missing_devices_file_is_one_error_line(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    result = invoke("--devices", str(missing))
    assert result.exit_code == 1
    assert result.output == f"error: devices file {missing} does not exist\n"
