"""The file layer: atomic folders that never replace what edgebench did not create, and writes that fail as one
line on a full disk, a read-only folder or a special file, leaving nothing behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.errors import EdgebenchError
from edgebench.fileio import (Terminated, atomic_dir, check_writable, remove_stale_temporaries, resolve_inside,
                              write_bytes, write_json)
from .conftest import assert_unchanged, fill_disk, tree_snapshot


def _user_folder(root: Path) -> Path:
    folder = root / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my own work\n")
    return folder


def _hidden(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_dir_never_replaces_a_folder_it_did_not_create(tmp_path):
    folder = _user_folder(tmp_path)
    before = tree_snapshot(tmp_path)
    with pytest.raises(EdgebenchError, match=r"mine exists and was not created by edgebench: it is never replaced"):
        with atomic_dir(folder, overwrite=True, owned=lambda path: False) as work:
            (work / "x").write_text("new")
    assert_unchanged(before, tmp_path)


@pytest.mark.parametrize("where", ["cwd", "ancestor", "home"])
def test_atomic_dir_never_replaces_cwd_home_or_their_ancestors(tmp_path, monkeypatch, where):
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    (inner / "keep.txt").write_text("keep")
    monkeypatch.chdir(tmp_path if where == "home" else inner)
    monkeypatch.setenv("HOME", str(inner if where == "home" else tmp_path / "elsewhere"))
    target = {"cwd": inner, "ancestor": tmp_path / "a", "home": inner}[where]
    before = tree_snapshot(tmp_path)
    expected = {"cwd": "the current folder", "ancestor": "a folder that holds the current folder",
                "home": "your home folder"}[where]
    with pytest.raises(EdgebenchError, match=f"is {expected}: edgebench never replaces it"):
        with atomic_dir(target, overwrite=True, owned=lambda path: True):
            pass
    assert_unchanged(before, tmp_path)


def test_atomic_dir_refuses_a_file_and_fills_an_empty_folder(tmp_path):
    (tmp_path / "file").write_text("data")
    with pytest.raises(EdgebenchError, match="file exists and is not a folder"):
        with atomic_dir(tmp_path / "file", overwrite=True, owned=lambda path: True):
            pass
    assert (tmp_path / "file").read_text() == "data"
    (tmp_path / "empty").mkdir()
    with atomic_dir(tmp_path / "empty") as work:
        (work / "a.txt").write_text("a")
    assert (tmp_path / "empty" / "a.txt").read_text() == "a" and _hidden(tmp_path) == []


def test_atomic_dir_replaces_its_own_output_only_with_overwrite(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as work:
        (work / "manifest.json").write_text("{}")
    with pytest.raises(EdgebenchError, match="out already exists: pass --force"):
        with atomic_dir(out) as work:
            (work / "manifest.json").write_text('{"second": 1}')
    assert (out / "manifest.json").read_text() == "{}"
    with atomic_dir(out, overwrite=True) as work:
        (work / "manifest.json").write_text('{"third": 1}')
    assert (out / "manifest.json").read_text() == '{"third": 1}'
    assert _hidden(tmp_path) == []


def test_sigterm_inside_atomic_dir_leaves_nothing_and_restores_the_handler(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as caught:
        with atomic_dir(tmp_path / "out") as work:
            (work / "half.bin").write_bytes(b"\0" * 1000)
            os.kill(os.getpid(), signal.SIGTERM)
    assert caught.value.exit_code == 143
    assert list(tmp_path.iterdir()) == [] and signal.getsignal(signal.SIGTERM) is before


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)
    stale = tmp_path / f".out.{dead}.abc123.tmp"
    stale.mkdir()
    (stale / "model.onnx").write_bytes(b"half")
    alive = tmp_path / f".out.{os.getppid()}.def456.tmp"
    alive.mkdir()
    remove_stale_temporaries(tmp_path / "out")
    assert not stale.exists() and alive.exists()
    with atomic_dir(tmp_path / "other") as work:  # a new write cleans its own name's leftovers too
        (work / "f").write_text("x")
    assert alive.exists()


def test_write_refuses_a_device_and_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(EdgebenchError, match="pipe: it is not a regular file"):
        write_bytes(fifo, b"data")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    if Path("/dev/full").exists():
        with pytest.raises(EdgebenchError, match="cannot write /dev/full: it is not a regular file"):
            write_json("/dev/full", {"a": 1})
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    with pytest.raises(EdgebenchError, match="it is a folder"):
        write_bytes(tmp_path, b"x")


def test_write_json_refuses_nan_and_leaves_nothing(tmp_path):
    with pytest.raises(EdgebenchError, match=r"cannot write .*r\.json: accuracy is not a finite number"):
        write_json(tmp_path / "r.json", {"accuracy": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_full_disk_write_is_one_line_and_leaves_nothing(tiny_tmpfs):
    (tiny_tmpfs / "old.bin").write_bytes(b"previous")
    with pytest.raises(EdgebenchError) as caught:
        write_bytes(tiny_tmpfs / "old.bin", b"\1" * (1 << 20))
    assert str(caught.value) == f"cannot write {tiny_tmpfs / 'old.bin'}: no space left on the device"
    assert (tiny_tmpfs / "old.bin").read_bytes() == b"previous"
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == ["old.bin"]


def test_full_disk_atomic_dir_is_one_line_and_leaves_nothing(tiny_tmpfs):
    fill_disk(tiny_tmpfs, leave=0)
    with pytest.raises(EdgebenchError, match=r"cannot write .*bundle: no space left on the device"):
        with atomic_dir(tiny_tmpfs / "bundle") as work:
            (work / "model.onnx").write_bytes(b"\1" * 65536)
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == [".filler"]


def test_read_only_folder_is_one_line(read_only_dir):
    with pytest.raises(EdgebenchError, match=r"cannot write .*r\.json: (the file system is read-only|permission)"):
        write_json(read_only_dir / "r.json", {"a": 1})
    with pytest.raises(EdgebenchError, match=r"cannot write .*m\.pt: (the file system is read-only|permission)"):
        check_writable(read_only_dir / "sub" / "m.pt")
    assert list(read_only_dir.iterdir()) == []


@pytest.mark.parametrize("relative", ["../../../../etc/passwd", "/etc/passwd", "a/../../x"])
def test_paths_outside_a_folder_are_refused_before_use(tmp_path, relative):
    with pytest.raises(EdgebenchError, match="bundle folder|outside"):
        resolve_inside(tmp_path, relative)
