"""edgebench.progress: stage times recorded always, printed only when enabled, plain lines without a terminal."""
import io
import time

import pytest

from edgebench import progress as progress_module
from edgebench.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_disabled_prints_nothing_and_still_records_stage_times(capsys):
    progress = progress_module.disabled()
    with progress.stage("calibration"):
        assert list(progress.bar([1, 2, 3], desc="images")) == [1, 2, 3]
        time.sleep(0.02)
    progress.note("hidden")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    records = progress.records()
    assert [record["stage"] for record in records] == ["calibration"]
    assert records[0]["seconds"] >= 0.02


def test_plain_lines_when_not_a_terminal_and_nested_stages_indent():
    stream = io.StringIO()
    progress = Progress(enabled=True, stream=stream, plain_interval_s=0.0)
    with progress.stage("export"):
        with progress.stage("trial 1"):
            for _ in progress.bar(3, desc="verification"):
                pass
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()  # no tqdm bar in a log
    assert lines[:3] == ["    verification: 1/3 (0.00 s)", "    verification: 2/3 (0.00 s)",
                         "    verification: 3/3 (0.00 s)"]
    assert lines[3].startswith("    verification: 3/3 done in ")
    assert lines[4].startswith("  trial 1: ") and lines[5].startswith("export: ")
    assert [(r["stage"], r.get("depth", 0)) for r in progress.records()] == [("trial 1", 1), ("export", 0)]


def test_quiet_on_a_terminal_draws_no_bar():
    stream = _Terminal()
    progress = progress_module.for_cli(quiet=True, stream=stream)
    assert not progress.uses_bars
    with progress.counter(total=4, desc="trials") as advance:
        advance(4)
    assert stream.getvalue().startswith("trials: 4/4 done in ")


def test_terminal_draws_a_tqdm_bar_and_stage_lines():
    stream = _Terminal()
    progress = progress_module.for_cli(stream=stream)
    assert progress.uses_bars
    with progress.stage("onnx2tf"):
        list(progress.bar(range(5), desc="precisions"))
    text = stream.getvalue()
    assert "onnx2tf ..." in text and "precisions:   0%" in text and "0/5" in text and "\ronnx2tf: " in text


def test_failed_stage_is_recorded_and_reraised():
    progress = Progress()
    with pytest.raises(ValueError):
        with progress.stage("gate"):
            raise ValueError("boom")
    assert progress.records() == [{"stage": "gate", "seconds": progress.records()[0]["seconds"], "failed": True}]
    assert progress.seconds("gate") >= 0.0 and progress.seconds("missing") == 0.0


def test_through_a_log_callable_sends_lines_there_and_draws_no_bar():
    lines = []
    progress = progress_module.through(lines.append)
    assert not progress.uses_bars
    with progress.stage("onnx2tf"):
        progress.note("converting")
        for _ in progress.bar(2, desc="precisions"):
            pass
    assert lines[0] == "  converting" and lines[1].startswith("  precisions: 2/2 done in ")
    assert lines[2].startswith("onnx2tf: ")
