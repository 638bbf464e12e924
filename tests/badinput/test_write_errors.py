"""A failed write (full disk, read-only folder) is one WriteError wherever it surfaces: raised by the file layer,
or wrapped by a converter or exporter in its own exception type. Code that lets one artifact or candidate fail
and goes on lets a WriteError through, because every later step would fail the same way."""

from __future__ import annotations

import errno

import pytest

from device_agent import fileio as agent_fileio
from edgebench.errors import EdgebenchError, WriteError
from edgebench.fileio import host_errors, os_errors_named, raise_if_write_error


def _wrapped(inner: BaseException) -> RuntimeError:
    """A converter's own error type raised while handling `inner`, as `raise X from inner` leaves it."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("conversion failed") from exc
    except RuntimeError as outer:
        return outer


def test_a_full_disk_inside_a_converter_error_is_a_write_error_naming_the_file():
    full = OSError(errno.ENOSPC, "No space left on device", "/out/model.onnx")
    with pytest.raises(WriteError) as raised:
        raise_if_write_error(_wrapped(full), "/out/other.onnx")
    assert str(raised.value) == "cannot write /out/model.onnx: no space left on the device"
    assert raised.value.exit_code == 1


def test_a_write_error_without_a_file_name_takes_the_path_given():
    with pytest.raises(WriteError, match=r"^cannot write /out/m.tflite: the file system is read-only$"):
        raise_if_write_error(_wrapped(OSError(errno.EROFS, "Read-only file system")), "/out/m.tflite")


@pytest.mark.parametrize("exc", [RuntimeError("bad graph"), OSError(errno.ENOENT, "No such file", "x"),
                                 _wrapped(ValueError("shape mismatch"))])
def test_other_errors_are_left_to_the_caller(exc):
    assert raise_if_write_error(exc) is None


def test_os_errors_named_turns_only_write_errors_into_write_errors():
    with pytest.raises(WriteError, match=r"^cannot write /r.json: permission denied$"):
        with os_errors_named("/r.json"):
            raise PermissionError(errno.EACCES, "Permission denied")
    with pytest.raises(FileNotFoundError):
        with os_errors_named("/r.json"):
            raise FileNotFoundError(errno.ENOENT, "No such file")


def test_the_shared_file_layers_write_error_stays_a_write_error_on_the_host():
    with pytest.raises(WriteError, match="no space left"):
        with host_errors():
            raise agent_fileio.WriteError("cannot write /r.json: no space left on the device", errno.ENOSPC)
    with pytest.raises(EdgebenchError) as raised:
        with host_errors():
            raise agent_fileio.AgentError("cannot write /r.json: it is a folder")
    assert not isinstance(raised.value, WriteError)
