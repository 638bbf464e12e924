"""Files shared by host and device: checksums, paths that must stay inside a folder, and atomic writes that
never replace anything but a regular file.

A write goes to a hidden temporary sibling, is flushed to disk, then renamed into place; a failure (full disk,
read-only folder, no permission, a value JSON cannot hold) removes the temporary and raises one AgentError
naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import stat
import tempfile
from typing import Any, Iterator, Optional

from device_agent.errors import AgentError, UsageError

# errno values that mean "this place cannot take the write".
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT, errno.EFBIG})


class WriteError(AgentError):
    """A write that the file system refused (full disk, read-only, permission); `errno` says which."""

    def __init__(self, message: str, errno_value: Optional[int] = None):
        super().__init__(message)
        self.errno = errno_value


def sha256_file(path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)


def check_target(path) -> None:
    """A write may create a missing path or replace a regular file; never a folder, a device, a pipe, a socket,
    or a symbolic link that leads to one of those or nowhere."""
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise AgentError(f"cannot write {path}: it is a symbolic link to a missing file") from None
        parent = os.path.dirname(os.path.abspath(path))
        if os.path.exists(parent) and not os.path.isdir(parent):
            raise AgentError(f"cannot write {path}: {parent} is not a folder") from None
        return
    except NotADirectoryError:
        raise AgentError(f"cannot write {path}: a part of the path is not a folder") from None
    except OSError as exc:
        raise AgentError(f"cannot write {path}: {_reason(exc)}") from None
    if stat.S_ISREG(mode):
        return
    kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device, pipe or socket)"
    raise AgentError(f"cannot write {path}: it is {kind}; give a file path")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path, data: bytes) -> None:
    """Write `data` to `path` through a temporary sibling, fsync'd, then renamed over it."""
    path = os.fspath(path)
    check_target(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        check_target(path)  # nothing special appeared there meanwhile
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {_reason(exc)}", exc.errno) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def non_finite_key(obj: Any, where: str = "") -> Optional[str]:
    """The JSON path of the first NaN or infinity in `obj` (e.g. `runs[0].latency_ms.p50`), or None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (where or "(top level)")
    if isinstance(obj, dict):
        for key, value in obj.items():
            found = non_finite_key(value, f"{where}.{key}" if where else str(key))
            if found:
                return found
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            found = non_finite_key(value, f"{where}[{index}]")
            if found:
                return found
    return None


def dumps_json(obj: Any) -> str:
    """Strict JSON (indent 2, trailing newline): NaN and infinity are refused, naming the key that holds one."""
    try:
        return json.dumps(obj, indent=2, allow_nan=False) + "\n"
    except ValueError as exc:
        key = non_finite_key(obj)
        if key:
            raise AgentError(f"{key} is not a finite number; JSON cannot hold NaN or infinity") from None
        raise AgentError(f"the data cannot be written as JSON: {exc}") from None
    except TypeError as exc:
        raise AgentError(f"the data cannot be written as JSON: {exc}") from None


def write_json_atomic(path, obj: Any) -> None:
    try:
        text = dumps_json(obj)
    except AgentError as exc:
        raise AgentError(f"cannot write {os.fspath(path)}: {exc}") from None
    write_bytes_atomic(path, text.encode("utf-8"))


def resolve_inside(root, relative) -> str:
    """The real path of `root/relative`; refuses an absolute path, a `..` part, and a symbolic link that leads
    out of `root`, before anything is opened."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise AgentError(f"path {relative!r} is not a relative file name")
    if os.path.isabs(relative) or relative.startswith("\\") or (len(relative) > 1 and relative[1] == ":"):
        raise AgentError(f"path '{relative}' is absolute; it must be relative to the bundle folder")
    if ".." in relative.replace("\\", "/").split("/"):
        raise AgentError(f"path '{relative}' goes up with '..'; it must stay inside the bundle folder")
    real_root = os.path.realpath(os.fspath(root))
    resolved = os.path.realpath(os.path.join(real_root, relative))
    if os.path.commonpath([real_root, resolved]) != real_root:
        raise AgentError(f"path '{relative}' leads to {resolved}, outside {real_root}")
    return resolved


@contextlib.contextmanager
def result_lock(path) -> Iterator[None]:
    """Holds an exclusive lock beside the result `path` (`.NAME.lock`, removed at the end) for the block, so a
    second agent writing the same result (a retry over ssh while the first run still goes on) is refused with
    UsageError instead of both writing it. Where no lock can be taken (no fcntl, a folder that cannot hold the
    lock file) the block runs without one: the result's own save reports a folder that cannot be written."""
    try:
        import fcntl  # POSIX only: imported where a lock is taken, so the module loads everywhere
    except ImportError:  # not POSIX
        yield
        return
    folder, name = os.path.split(os.path.abspath(path))
    lock_path = os.path.join(folder, f".{name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            raise UsageError(f"--out {path}: another agent (pid {holder}) is measuring into this result; wait "
                             "for it to finish, or give another --out") from None
        with contextlib.suppress(OSError):  # the pid is a courtesy for the message above
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode("ascii"))
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock_path)
    finally:
        os.close(fd)
