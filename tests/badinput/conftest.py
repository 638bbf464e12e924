"""Shared checks for the bad-input cases: a command refused with one line, and nothing outside its output changed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Iterable, Iterator, Optional, Tuple

import pytest

Entry = Tuple[str, str]  # (kind, content digest or link target)


def tree_snapshot(*roots: Path) -> Dict[str, Entry]:
    """Every path under `roots` (hidden ones included) with its kind and content hash; folders as 'dir'."""
    state: Dict[str, Entry] = {}
    for root in roots:
        root = Path(root)
        if not root.exists() and not root.is_symlink():
            continue
        for folder, dirs, files in os.walk(root):
            for name in dirs:
                path = Path(folder) / name
                state[str(path)] = ("link", os.readlink(path)) if path.is_symlink() else ("dir", oct(path.stat().st_mode))
            for name in files:
                path = Path(folder) / name
                if path.is_symlink():
                    state[str(path)] = ("link", os.readlink(path))
                elif path.is_file():
                    state[str(path)] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
                else:
                    state[str(path)] = ("special", "")
        state[str(root)] = ("root", "")
    return state


def assert_unchanged(before: Dict[str, Entry], *roots: Path, ignore: Iterable[Path] = ()) -> None:
    """Nothing under `roots` changed since `before`, except paths under `ignore` (the command's own output)."""
    skipped = [str(Path(p)) for p in ignore]

    def kept(path: str) -> bool:
        return not any(path == s or path.startswith(s + os.sep) for s in skipped)

    after = {k: v for k, v in tree_snapshot(*roots).items() if kept(k)}
    before = {k: v for k, v in before.items() if kept(k)}
    added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    changed = sorted(k for k in set(after) & set(before) if after[k] != before[k])
    assert not (added or removed or changed), f"added {added[:5]}, removed {removed[:5]}, changed {changed[:5]}"


def one_error_line(output: str, *, prefix: str = "error:") -> str:
    """The output holds exactly one line starting with `prefix` and no traceback; return that line."""
    assert "Traceback" not in output, output[-2000:]
    lines = [line for line in output.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, output[-2000:]
    return lines[0]


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A real tmpfs at `folder` (`size=64k`, `ro,size=64k`, ...), unmounted afterwards; skipped without root."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir(exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 256 KiB tmpfs (a real full disk); skipped where mounting is not allowed (not root)."""
    with mounted_tmpfs(tmp_path / "small-disk", "size=256k") as mount:
        yield mount


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only folder: a read-only tmpfs as root (permission bits do not stop root), chmod 555 otherwise."""
    folder = tmp_path / "read-only"
    if os.geteuid() == 0:
        with mounted_tmpfs(folder, "ro,size=64k"):
            yield folder
    else:
        folder.mkdir()
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)


def fill_disk(mount: Path, leave: int = 0, name: Optional[str] = ".filler") -> None:
    """Fill the file system at `mount` up to `leave` free bytes."""
    filler = mount / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
