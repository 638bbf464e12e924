"""Bad devices files (`devices.yaml`) for `edgebench devices` and `edgebench bench --device NAME`: one line naming
the file, the device and the setting; nothing written."""

import pytest

from edgebench.devices.spec import load_devices, resolve_device
from tests.badinput.test_report_inputs import invoke, refused

GOOD_ENTRY = "pi:\n  host: 192.168.1.20\n  user: pi\n"


@pytest.mark.parametrize("text, fragments", [
    ("pi:\n  host: 10.0.0.2\n  port: abc\n",
     ["devices.yaml: device 'pi': port 'abc' is not a port number: give a whole number from 1 to 65535"]),
    ("pi:\n  host: 10.0.0.2\n  port: 70000\n", ["device 'pi': port 70000 is not a port number"]),
    ("pi:\n  host: 10.0.0.2\n  port: true\n", ["device 'pi': port True is not a port number"]),
    ("", ["devices.yaml is empty: write one device per name"]),
    ("# only a comment\n", ["devices.yaml is empty"]),
    ("- host: 10.0.0.2\n", ["devices.yaml must map device names to settings", "not a list"]),
    ("just a sentence\n", ["devices.yaml must map device names to settings", "not a str"]),
    ("pi: 10.0.0.2\n", ["devices.yaml: device 'pi': settings must be a mapping"]),
    ("pi:\n  host: 10.0.0.2\n  hostname: x\n",
     ["devices.yaml: device 'pi' has unknown setting 'hostname': valid settings are host, identity"]),
    ("pi:\n  user: pi\n", ["devices.yaml: device 'pi': host is missing"]),
    ("pi:\n  host: -oProxyCommand=touch /tmp/owned\n", ["device 'pi': host '-oProxyCommand=touch /tmp/owned' is not"]),
    ("pi:\n  host: 10.0.0.2\n  user: a b\n", ["device 'pi': user 'a b' is not a host or user name"]),
    ("pi:\n  host: 10.0.0.2\n  threads: -1\n", ["device 'pi': threads -1 is not a thread count"]),
    ("pi:\n  host: 10.0.0.2\n  threads: two\n", ["device 'pi': threads 'two' is not a thread count"]),
    ("pi:\n  host: 10.0.0.2\n  ssh_options: StrictHostKeyChecking=no\n",
     ["device 'pi': ssh_options 'StrictHostKeyChecking=no' must be a list of ssh options"]),
    ("pi:\n  host: 10.0.0.2\n  python: ''\n", ["device 'pi': python '' must be a non-empty text"]),
    ("local:\n  host: 10.0.0.2\n", ["devices.yaml: device name 'local' is not usable"]),
    ("pi: {host: [\n", ["devices.yaml is not valid YAML"]),
    # an entry with server: goes through an `edgebench serve` fleet
    ("pi:\n  server: http://10.0.0.5:8700\n  host: 10.0.0.5\n",
     ["devices.yaml: device 'pi': server and host cannot be mixed: server: reaches the device through a fleet"]),
    ("pi:\n  server: ftp://10.0.0.5\n", ["device 'pi': server 'ftp://10.0.0.5' is not a server URL: give http://"]),
    ("pi:\n  server: 10.0.0.5:8700\n", ["device 'pi': server '10.0.0.5:8700' is not a server URL"]),
    ("pi:\n  server: http://10.0.0.5:8700\n  token: ebs_x\n",
     ["device 'pi' has unknown setting 'token': valid settings with server: are device, labels, server, token_file"]),
    ("pi:\n  host: 10.0.0.2\n  token_file: t\n",
     ["device 'pi' has unknown setting 'token_file'", "(a fleet device: device, labels, server, token_file, with "
                                                      "server:)"]),
    ("pi:\n  server: http://10.0.0.5:8700\n  token_file: missing-token\n",
     ["device 'pi': token_file missing-token does not exist: write the token there"]),
    ("pi:\n  server: http://10.0.0.5:8700\n  labels: arm64\n",
     ["device 'pi': labels 'arm64' must be a list of labels such as [arm64, pi4]"]),
    ("pi:\n  server: http://10.0.0.5:8700\n  device: pi4\n  labels: [arm64]\n",
     ["device 'pi': device and labels cannot be mixed"]),
])
def test_bad_devices_file(tmp_path, text, fragments):
    (tmp_path / "devices.yaml").write_text(text)
    refused(["devices", "--devices", "devices.yaml"], tmp_path, *fragments)
    refused(["bench", "bundle", "--device", "pi", "--devices", "devices.yaml"], tmp_path, *fragments)


def test_fleet_token_file_others_can_read(tmp_path):
    token = tmp_path / "fleet-token"
    token.write_text("ebs_0123456789ab_" + "x" * 43 + "\n")
    (tmp_path / "devices.yaml").write_text("pi4:\n  server: http://10.0.0.5:8700\n  token_file: fleet-token\n")
    for mode in (0o640, 0o604):
        token.chmod(mode)
        refused(["devices", "--devices", "devices.yaml"], tmp_path,
                f"devices.yaml: device 'pi4': token_file fleet-token is readable by others (mode {mode:o}): chmod 600 "
                "fleet-token")
        refused(["bench", "bundle", "--device", "pi4"], tmp_path, "token_file fleet-token is readable by others")
    token.chmod(0o600)
    (pi4,) = load_devices(str(tmp_path / "devices.yaml")).values()
    assert (pi4.kind, pi4.server, pi4.fleet_device, pi4.labels, pi4.token_file) == (
        "fleet", "http://10.0.0.5:8700", "pi4", (), str(token))  # relative: from the devices file's folder


def test_devices_file_that_is_not_a_file(tmp_path):
    refused(["devices", "--devices", "missing.yaml"], tmp_path, "devices file missing.yaml does not exist")
    (tmp_path / "folder.yaml").mkdir()
    refused(["devices", "--devices", "folder.yaml"], tmp_path,
            "Invalid value for '--devices': File 'folder.yaml' is a directory", code=2)
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00pi")
    refused(["devices", "--devices", "binary.yaml"], tmp_path, "binary.yaml is not a text file")


def test_default_devices_file_in_the_current_folder(tmp_path):
    (tmp_path / "devices.yaml").write_text("pi:\n  host: 10.0.0.2\n  port: abc\n")
    refused(["bench", "bundle", "--device", "pi"], tmp_path, "devices.yaml: device 'pi': port 'abc'")


def test_good_devices_file_and_addresses(tmp_path):
    path = tmp_path / "devices.yaml"
    path.write_text(GOOD_ENTRY + "  port: 2222\n  threads: 4\n  ssh_options: [StrictHostKeyChecking=no]\n")
    (pi,) = load_devices(str(path)).values()
    assert (pi.name, pi.destination, pi.port, pi.threads, pi.ssh_options) == (
        "pi", "pi@192.168.1.20", 2222, 4, ("StrictHostKeyChecking=no",))
    assert resolve_device("ssh://me@box:2200").port == 2200
    refused(["bench", "bundle", "--device", "pj", "--devices", "devices.yaml"], tmp_path,
            "unknown device 'pj': did you mean pi?")


@pytest.mark.parametrize("address, fragment", [
    ("ssh://me@box:0", "port 0 in ssh://me@box:0 is out of range"),
    ("ssh://me@box:99999", "port 99999 in ssh://me@box:99999 is out of range"),
    ("ssh://-oProxyCommand=x", "'-oProxyCommand=x' in ssh://-oProxyCommand=x is not a host or user name"),
    ("ssh:/box", "'ssh:/box' is not an ssh address"),
    ("nowhere", "unknown device 'nowhere': give local, ssh://user@host[:port], or a name from a devices file"),
])
def test_bad_addresses(tmp_path, address, fragment):
    refused(["bench", "bundle", "--device", address], tmp_path, fragment)


def test_devices_lists_this_machine_without_a_file(tmp_path):
    result = invoke(["devices", "--json"], tmp_path)
    assert result.exit_code == 0, result.output
    assert '"name": "local"' in result.stdout


def test_unreachable_device_is_listed_with_the_reason(tmp_path):
    import json
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "devices.yaml").write_text(f"pi:\n  host: 127.0.0.1\n  user: root\n  port: {port}\n")
    result = invoke(["devices", "--devices", "devices.yaml", "--json"], tmp_path)
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["pi"]["status"].startswith(f"cannot reach root@127.0.0.1:{port}")
    assert rows["pi"]["python"] is None and rows["local"]["status"] == "ok"
