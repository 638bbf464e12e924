"""Atomic writes: a crash, an error or a signal never leaves a half-written file or folder behind, and a write
never replaces what edgebench did not create.

Single files go through `device_agent.fileio`, the one implementation host and device share (checksums, path
checks, atomic writes); its AgentError becomes an EdgebenchError here. Folders (`atomic_dir`) are host-only.
Temporaries are hidden siblings named `.NAME.<pid>.<random>.tmp`; one whose process is gone is removed by the
next write to the same path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

from device_agent import fileio as shared
from device_agent.errors import AgentError
from device_agent.fileio import WRITE_ERRNOS, sha256_file
from edgebench.errors import EdgebenchError, WriteError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["Terminated", "atomic_dir", "check_replaceable", "check_target", "check_writable",
           "describe_os_error", "is_edgebench_output", "os_errors_named", "remove_stale_temporaries",
           "resolve_inside", "sha256_file", "signals_raise", "write_bytes", "write_json", "write_text"]

# Files that mark a folder as an edgebench output (bundle, pruning run, ablation, pruning study).
OUTPUT_MARKERS = ("manifest.json", "pruning.json", "ablation-settings.json", "pruning-study.json")


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) arrived: unwinds like KeyboardInterrupt so that every `finally` cleans up."""

    def __init__(self, signum: int):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise `Terminated` (SIGINT already raises KeyboardInterrupt);
    the previous handlers come back afterwards. Outside the main thread signals cannot be caught: a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        handler = signal.getsignal(signum)
        if handler in (signal.SIG_DFL, None):  # an ignored signal or a caller's own handler stays as it is
            previous[signum] = handler
            signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def describe_os_error(exc: OSError, path: Optional[PathLike] = None) -> str:
    """One line: the path and the operating system's reason ("cannot write ..." for a failed write)."""
    where = path if path is not None else (exc.filename or "")
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    elif exc.errno == errno.EROFS:
        reason = "the file system is read-only"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    if exc.errno not in WRITE_ERRNOS:
        return f"{where}: {reason}" if where else reason
    return f"cannot write {where}: {reason}" if where else f"cannot write: {reason}"


@contextlib.contextmanager
def os_errors_named(path: PathLike) -> Iterator[None]:
    """Turn a write failure (full disk, read-only or forbidden folder) into one WriteError naming `path`."""
    try:
        yield
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:
            raise WriteError(describe_os_error(exc, path)) from None
        raise


def raise_if_write_error(exc: BaseException, path: Optional[PathLike] = None) -> None:
    """Re-raise `exc` as a WriteError when it is one, or an OSError of a failed write is among its causes (a
    converter or exporter that wraps the full disk in its own exception type); otherwise do nothing."""
    if isinstance(exc, WriteError):
        raise exc
    seen = 0
    cause: Optional[BaseException] = exc
    while cause is not None and seen < 16:
        if isinstance(cause, OSError) and cause.errno in WRITE_ERRNOS:
            raise WriteError(describe_os_error(cause, path if cause.filename is None else None)) from None
        cause, seen = cause.__cause__ or cause.__context__, seen + 1


@contextlib.contextmanager
def host_errors() -> Iterator[None]:
    """The shared file layer's AgentError, as the host's one-line EdgebenchError."""
    try:
        yield
    except shared.WriteError as exc:  # the file system refused a write: said as such, and it stops the command
        raise WriteError(str(exc)) from None
    except AgentError as exc:
        raise EdgebenchError(str(exc)) from None


def check_target(path: PathLike) -> Path:
    """A write may create a missing path or replace a regular file; never a folder, device, pipe or socket."""
    with host_errors():
        shared.check_target(path)
    return Path(path).absolute()


def resolve_inside(root: PathLike, relative: str) -> Path:
    """`root/relative`, refused before anything is opened when it would lead outside `root`."""
    with host_errors():
        return Path(shared.resolve_inside(root, relative))


def check_writable(path: PathLike) -> Path:
    """Before long work: `path` may be written (see `check_target`) and its nearest existing folder takes
    new files (not read-only, not forbidden)."""
    path = check_target(path)
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise EdgebenchError(f"cannot write {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = "the file system is read-only" if _read_only(folder) else "permission denied"
        raise EdgebenchError(f"cannot write {path}: {reason} ({folder})")
    return path


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(path: PathLike) -> None:
    """Remove `.NAME.<pid>.*.tmp` siblings left by writers that are no longer running."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    for sibling in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        pid = sibling.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            if sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    sibling.unlink()


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _make_parent(path: Path) -> None:
    with os_errors_named(path):
        path.parent.mkdir(parents=True, exist_ok=True)


def write_bytes(path: PathLike, data: bytes) -> None:
    remove_stale_temporaries(path)
    with signals_raise(), host_errors():
        shared.write_bytes_atomic(path, data)


def write_text(path: PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: PathLike, obj: Any) -> None:
    """Strict JSON: a NaN or infinity is refused, naming its key (it would make the file unreadable elsewhere)."""
    remove_stale_temporaries(path)
    with signals_raise(), host_errors():
        shared.write_json_atomic(path, obj)


def is_edgebench_output(path: PathLike) -> bool:
    """A folder that holds one of the files edgebench writes at the top of its outputs."""
    path = Path(path)
    return path.is_dir() and any((path / marker).is_file() for marker in OUTPUT_MARKERS)


def _protected(path: Path) -> Optional[str]:
    cwd = Path.cwd().resolve()
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        return "the root folder"
    if resolved == Path.home().resolve():
        return "your home folder"
    if resolved == cwd:
        return "the current folder"
    if resolved in cwd.parents:
        return "a folder that holds the current folder"
    return None


def check_replaceable(path: PathLike, *, overwrite: bool,
                      owned: Optional[Callable[[Path], bool]] = None) -> Path:
    """Whether `atomic_dir` may put a folder at `path`: missing, an empty folder, or (with `overwrite`) a
    folder that `owned` says edgebench wrote. Raise a one-line EdgebenchError otherwise."""
    path = Path(path).absolute()
    if not path.exists() and not path.is_symlink():
        return path
    if path.is_symlink() or not path.is_dir():
        raise EdgebenchError(f"{path} exists and is not a folder: choose another output path")
    protected = _protected(path)
    if protected:
        raise EdgebenchError(f"{path} is {protected}: edgebench never replaces it; choose a new output folder")
    if not any(path.iterdir()):
        return path
    if not (owned or is_edgebench_output)(path):
        raise EdgebenchError(f"{path} exists and was not created by edgebench: it is never replaced; choose "
                             "another output folder")
    if not overwrite:
        raise EdgebenchError(f"{path} already exists: pass --force to replace it, or choose another output folder")
    return path


@contextlib.contextmanager
def atomic_dir(path: PathLike, *, overwrite: bool = False,
               owned: Optional[Callable[[Path], bool]] = None) -> Iterator[Path]:
    """Build a folder in a temporary sibling; move it into place only when the block succeeds.

    An existing `path` is replaced only with `overwrite` and when `owned(path)` is true (default: it holds an
    edgebench output marker); an empty folder may always be filled. Never the current folder, home, `/` or
    an ancestor of the current folder. SIGTERM and SIGINT remove the temporary folder."""
    path = check_replaceable(path, overwrite=overwrite, owned=owned)
    _make_parent(path)
    remove_stale_temporaries(path)
    with signals_raise(), os_errors_named(path):
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))
        old = None
        try:
            os.chmod(tmp, 0o777 & ~_umask())
            try:
                yield tmp
            except EdgebenchError as exc:  # name the file where it was going, not its temporary home
                if str(tmp) not in str(exc):
                    raise
                exc.args = (str(exc).replace(str(tmp), str(path)),)  # the same kind of error (a WriteError stays one)
                raise exc from None
            check_replaceable(path, overwrite=overwrite, owned=owned)  # the same verdict at the moment of the swap
            if path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))
                os.replace(path, old / "previous")
            try:
                os.replace(tmp, path)
            except OSError:
                if old is not None:
                    os.replace(old / "previous", path)
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
