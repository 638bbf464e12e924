"""The host-agent file contract (`device_agent.fileio`): special files refused, paths kept inside their folder,
strict JSON, nothing left behind by a failed write."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from device_agent.errors import AgentError
from device_agent.fileio import (WriteError, check_target, resolve_inside, sha256_file, write_bytes_atomic,
                                 write_json_atomic)


def test_sha256_of_a_known_text(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    assert sha256_file(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_targets(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "to-null").symlink_to("/dev/null")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    (tmp_path / "file").write_text("x")
    check_target(tmp_path / "file")
    check_target(tmp_path / "new.json")
    check_target(tmp_path / "new-folder" / "new.json")
    for name, reason in (("fifo", "not a regular file"), ("to-null", "not a regular file"),
                         ("dangling", "symbolic link to a missing file"), (".", "it is a folder"),
                         ("file/x.json", "is not a folder")):
        with pytest.raises(AgentError, match=reason):
            check_target(tmp_path / name)
    with pytest.raises(AgentError, match="/dev/full: it is not a regular file"):
        check_target("/dev/full")


def test_atomic_write_replaces_a_file_and_never_a_device(tmp_path):
    target = tmp_path / "out.bin"
    write_bytes_atomic(target, b"one")
    write_bytes_atomic(target, b"two")
    assert target.read_bytes() == b"two" and sorted(os.listdir(tmp_path)) == ["out.bin"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    device = os.stat("/dev/full")
    with pytest.raises(AgentError, match="not a regular file"):
        write_bytes_atomic("/dev/full", b"x")
    assert os.stat("/dev/full").st_rdev == device.st_rdev and os.path.exists("/dev/full")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_json_refuses_non_finite_numbers_naming_the_key(tmp_path):
    target = tmp_path / "r.json"
    write_json_atomic(target, {"a": 1})
    for bad, key in (({"runs": [{"latency_ms": {"p50": math.nan}}]}, "runs[0].latency_ms.p50"),
                     ({"x": [1.0, -math.inf]}, "x[1]")):
        with pytest.raises(AgentError, match=re.escape(f"cannot write {target}: {key} is not a finite number")):
            write_json_atomic(target, bad)
    assert json.loads(target.read_text()) == {"a": 1} and os.listdir(tmp_path) == ["r.json"]


def test_failed_write_leaves_nothing(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder; the read-only mount is in test_agent_writes.py")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(WriteError, match="permission denied") as caught:
            write_bytes_atomic(folder / "r.json", b"x")
        assert caught.value.errno is not None and os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("relative, reason", [
    ("../x", "goes up with '..'"),
    ("a/../../x", "goes up with '..'"),
    ("a/..", "goes up with '..'"),
    ("/etc/passwd", "is absolute"),
    ("", "is not a relative file name"),
    ("a\x00b", "is not a relative file name"),
    ("escape/passwd", "outside"),
])
def test_resolve_inside_refuses_escapes(tmp_path, relative, reason):
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to("/etc")
    with pytest.raises(AgentError, match=reason):
        resolve_inside(root, relative)


def test_resolve_inside_keeps_inner_paths_and_links(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "inner").symlink_to(root / "sub")
    assert resolve_inside(root, "sub/model.onnx") == str((root / "sub" / "model.onnx").resolve())
    assert resolve_inside(root, "inner/model.onnx") == str((root / "sub" / "model.onnx").resolve())
    assert resolve_inside(root, "./model.onnx") == str(root.resolve() / "model.onnx")
    with pytest.raises(AgentError, match="not a relative file name"):
        resolve_inside(root, 3)  # a number where the manifest should hold a path
    assert Path(resolve_inside(str(root), "a.txt")).parent == root.resolve()
