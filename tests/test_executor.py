"""The executor seam: parsing, `local` and `process:N` (real worker processes, a killed worker, a task's own
error, a cancelled run). Ray runs in tests/test_executor_ray.py."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgebench.errors import EdgebenchError
from edgebench.executor import ExecutorSpec, make_executor, parse_executor
from edgebench.executor.display import remaining_seconds, status_line
from edgebench.executor.outcome import Outcome


@dataclass(frozen=True, kw_only=True)
class Job:
    number: int
    folder: str = ""
    fail: bool = False
    die_once: bool = False  # the first attempt kills its own process, as a lost worker
    sleep: float = 0.0


def square(job: Job) -> dict:
    """A task that records its attempts in `folder`, so a test can count reruns."""
    folder = Path(job.folder) if job.folder else None
    if folder is not None:
        marker = folder / f"attempt-{job.number}-{os.getpid()}"
        marker.write_text(str(os.getpid()))
        if job.die_once and len(list(folder.glob(f"attempt-{job.number}-*"))) == 1:
            os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(job.sleep)
    if job.fail:
        raise EdgebenchError(f"job {job.number} refused\nsecond line")
    if job.number < 0:
        raise ZeroDivisionError("negative")
    return {"square": job.number ** 2, "pid": os.getpid()}


def attempts(folder: Path, number: int) -> int:
    return len(list(folder.glob(f"attempt-{number}-*")))


@pytest.mark.parametrize("text, expected", [
    ("local", ExecutorSpec(kind="local")),
    ("process:3", ExecutorSpec(kind="process", workers=3)),
    ("ray", ExecutorSpec(kind="ray")),
    ("ray:auto", ExecutorSpec(kind="ray", address="auto")),
    ("ray:ray://head:10001", ExecutorSpec(kind="ray", address="ray://head:10001")),
    ("ray://head:10001", ExecutorSpec(kind="ray", address="ray://head:10001")),
])
def test_parse_accepts_every_form(text, expected):
    assert parse_executor(text) == expected
    assert str(parse_executor(str(expected))) == str(expected)


@pytest.mark.parametrize("text, words", [
    ("process", "process:N with N >= 1"), ("process:0", "process:N"), ("process:x", "process:N"),
    ("threads:2", "unknown executor 'threads:2'"), ("", "unknown executor ''"), ("ray:", "empty address"),
])
def test_parse_refuses_bad_forms_in_one_line(text, words):
    with pytest.raises(EdgebenchError) as caught:
        parse_executor(text)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_local_runs_in_order_and_reports_a_task_error_for_that_task():
    jobs = [Job(number=2), Job(number=3, fail=True), Job(number=-1), Job(number=4)]
    with make_executor("local") as executor:
        outcomes = list(executor.map(square, jobs, names=["a", "b", "c", "d"]))
    assert [o.name for o in outcomes] == ["a", "b", "c", "d"] and [o.index for o in outcomes] == [0, 1, 2, 3]
    assert [o.value and o.value["square"] for o in outcomes] == [4, None, None, 16]
    assert outcomes[1].error == "job 3 refused" and outcomes[1].detail is None
    assert outcomes[2].error == "ZeroDivisionError: negative" and "Traceback" in outcomes[2].detail
    assert {o.value["pid"] for o in outcomes if o.ok} == {os.getpid()} and outcomes[0].node == "here"


def test_local_lets_ctrl_c_through():
    def interrupted(job):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(make_executor("local").map(interrupted, [Job(number=1)]))


def test_names_must_match_items():
    with pytest.raises(ValueError, match="1 names for 2 items"):
        list(make_executor("local").map(square, [Job(number=1), Job(number=2)], names=["x"]))


def test_process_runs_tasks_in_parallel_workers_and_does_not_retry_a_task_error(tmp_path):
    jobs = [Job(number=n, folder=str(tmp_path), sleep=0.3, fail=(n == 3)) for n in (1, 2, 3)]
    with make_executor("process:2") as executor:
        assert executor.slots == 2
        outcomes = sorted(executor.map(square, jobs, names=["one", "two", "three"]), key=lambda o: o.index)
    assert [o.value and o.value["square"] for o in outcomes] == [1, 4, None]
    assert outcomes[2].error == "job 3 refused" and outcomes[2].attempts == 1 and attempts(tmp_path, 3) == 1
    pids = {o.value["pid"] for o in outcomes if o.ok}
    assert os.getpid() not in pids
    assert all(o.node.endswith(f"pid {o.value['pid']}") for o in outcomes if o.ok)


@dataclass(frozen=True, kw_only=True)
class Write:
    path: str
    errno: int = 28  # ENOSPC


def write_into(job: Write) -> None:
    """A task whose write fails as a full disk does (the OSError raw, as a library would let it through)."""
    raise OSError(job.errno, os.strerror(job.errno), job.path)


@pytest.mark.parametrize("executor", ["local", "process:2"])
def test_a_failed_write_is_marked_and_stops_the_caller_that_asks(tmp_path, executor):
    from edgebench.errors import WriteError
    from edgebench.executor.outcome import stop_on_write_failure

    jobs = [Write(path=str(tmp_path / "full.pt")), Write(path=str(tmp_path / "other.pt"), errno=2)]  # ENOENT
    with make_executor(executor) as runner:
        outcomes = sorted(runner.map(write_into, jobs, names=["full", "missing"]), key=lambda o: o.index)
    full, missing = outcomes
    assert full.write_failed and full.error == f"cannot write {tmp_path / 'full.pt'}: no space left on the device"
    assert full.detail is None  # said in one line, no traceback kept
    assert not missing.write_failed and missing.error.startswith("FileNotFoundError: ")
    with pytest.raises(WriteError, match=r"^cannot write .*full\.pt: no space left on the device$"):
        stop_on_write_failure(full)
    assert stop_on_write_failure(missing) is missing


def test_process_reruns_the_task_of_a_killed_worker(tmp_path):
    jobs = [Job(number=5, folder=str(tmp_path), die_once=True), Job(number=6, folder=str(tmp_path))]
    with make_executor("process:2") as executor:
        outcomes = {o.name: o for o in executor.map(square, jobs, names=["dies", "lives"])}
    assert outcomes["dies"].ok and outcomes["dies"].value["square"] == 25 and outcomes["dies"].attempts == 2
    assert attempts(tmp_path, 5) == 2 and outcomes["lives"].value["square"] == 36


def test_process_gives_up_on_a_task_that_always_kills_its_worker(tmp_path, monkeypatch):
    monkeypatch.setattr("edgebench.executor.process.MAX_RETRIES", 1)
    folder = tmp_path / "always"
    folder.mkdir()
    (folder / "attempt-7-0").write_text("")  # so that every attempt dies: it never sees itself as first
    job = Job(number=7, folder=str(folder), die_once=False)

    outcomes = list(make_executor("process:1").map(_always_dies, [job], names=["doomed"]))
    assert len(outcomes) == 1 and outcomes[0].error == \
        "its worker process died 2 times (killed or out of memory)" and attempts(folder, 7) == 3


def _always_dies(job: Job) -> None:
    Path(job.folder, f"attempt-{job.number}-{os.getpid()}").write_text("")
    os.kill(os.getpid(), signal.SIGKILL)


def test_process_stops_running_tasks_when_the_caller_stops(tmp_path):
    jobs = [Job(number=1, folder=str(tmp_path)), Job(number=2, folder=str(tmp_path), sleep=60)]
    outcomes = make_executor("process:2").map(square, jobs)
    first = next(outcomes)
    assert first.value["square"] == 1
    deadline = time.time() + 10
    while attempts(tmp_path, 2) == 0 and time.time() < deadline:
        time.sleep(0.05)
    sleeper = int(next(tmp_path.glob("attempt-2-*")).read_text())
    outcomes.close()  # what Ctrl-C in the caller does too: the generator's finally stops the pool
    assert not _alive(sleeper)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_status_line_says_done_running_where_and_time_left():
    outcome = Outcome(name="v3", index=2, value=1, node="10.0.0.5 node 1a2b3c4d", seconds=41.0)
    line = status_line(outcome, done=2, total=4, slots=2, elapsed=60.0, what="variant")
    assert line == "[2/4] variant v3 done on 10.0.0.5 node 1a2b3c4d in 41.0 s; 2 running; about 1.0 min left"
    failed = Outcome(name="v4", index=3, error="lost", attempts=4)
    assert "v4 FAILED (lost)" in status_line(failed, done=4, total=4, slots=2, elapsed=9.0)
    assert "after 4 attempts; 0 running" in status_line(failed, done=4, total=4, slots=2, elapsed=9.0)
    assert remaining_seconds(done=1, total=4, elapsed=10.0) == 30.0
    assert remaining_seconds(done=0, total=4, elapsed=10.0) is None


@pytest.mark.parametrize("command", [["ablation", "--arch", "vgg19"], ["prune-study", "."]])
def test_executor_ray_without_ray_is_one_line_with_the_install_command(tmp_path, monkeypatch, command):
    from click.testing import CliRunner

    from edgebench.cli import cli

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    result = CliRunner().invoke(cli, [*command, "--executor", "ray", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "--executor': ray is not installed: pip install 'edgebench[ray]'" in result.output
    assert not (tmp_path / "out").exists()


def test_a_bad_executor_is_refused_before_any_work(tmp_path):
    from click.testing import CliRunner

    from edgebench.cli import cli

    result = CliRunner().invoke(cli, ["ablation", "--arch", "vgg19", "--executor", "process:0", "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2 and "executor 'process:0' needs a worker count: write process:N" in result.output
    assert not (tmp_path / "out").exists()
