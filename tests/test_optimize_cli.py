"""`edgebench optimize`: bad input refused in one line with its exit code before any work, and the answer files
written from a search against the simulated device (schema, counts, Markdown, HTML)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.cli import cli

FAST = ("--format", "onnx", "--threads", "1", "--eval-size", "20", "--calibration-size", "8")


def optimize(*args):
    return CliRunner().invoke(cli, ["optimize", *args], catch_exceptions=False)


@pytest.mark.parametrize("args, expected", [
    (("--max-drop", "-1"), "--max-drop"),
    (("--max-drop", "nan"), "--max-drop nan is not a finite number"),
    (("--max-drop", "1", "--device-budget", "5x"), "'5x' is not a duration"),
    (("--max-drop", "1", "--device-budget", "-3m"), "'-3m' is not a duration"),
    (("--max-drop", "1", "--precisions", "int4"), "'int4' is not a list of fp32, fp16, dynamic, int8, int8-mix"),
    (("--max-drop", "1", "--objective", "speed"), "'speed' is not one of 'latency', 'size', 'memory'"),
])
def test_bad_options_exit_2_in_one_line(tmp_path, args, expected):
    result = optimize("test_resnet", *args, "--out", str(tmp_path / "o"), *FAST)
    assert result.exit_code == 2
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_an_out_folder_of_another_run_is_refused_naming_the_difference(tmp_path):
    from edgebench.optimize.host import ModelInput
    from edgebench.optimize.journal import Journal
    from edgebench.optimize.run import OptimizeSpec
    from edgebench.optimize.space import PRECISIONS, Space

    out = tmp_path / "o"
    space = Space(formats=("onnx",), precisions=PRECISIONS, threads=(1,), xnnpack=(True, False))
    earlier = OptimizeSpec(source=ModelInput(model="test_resnet", eval_size=20, calibration_size=8), max_drop=2.0,
                           space=space, out=out)
    Journal.open(out, earlier.identity())
    before = (out / "journal.json").read_text()
    result = optimize("test_resnet", "--max-drop", "1", "--out", str(out), *FAST)
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"error: {out} holds an optimize run with other settings (max_drop 2.0 there, "
                                     "1.0 here): use another --out, or the same settings to continue it")
    assert (out / "journal.json").read_text() == before and sorted(p.name for p in out.iterdir()) == ["journal.json"]


def test_a_foreign_out_folder_is_refused(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = optimize("test_resnet", "--max-drop", "1", "--out", str(out), *FAST)
    assert result.exit_code == 1 and "holds no optimize run" in result.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_an_unreachable_device_fails_before_anything_is_exported(tmp_path):
    result = optimize("test_resnet", "--max-drop", "1", "--device", "ssh://root@127.0.0.1:1", "--out",
                      str(tmp_path / "o"), *FAST)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == ("error: cannot reach root@127.0.0.1:1: ssh: connect to host "
                                                      "127.0.0.1 port 1: Connection refused")
    assert not (tmp_path / "o").exists()


def test_answer_files_from_a_simulated_search(tmp_path):
    from edgebench.optimize.answer import markdown, validate_report, write_outputs
    from edgebench.optimize.host import ModelInput
    from edgebench.optimize.journal import Journal
    from edgebench.optimize.run import OptimizeSpec
    from tests.test_optimize_search import SPACE, run_search

    table, device, entries, decision = run_search(tmp_path, 4)
    spec = OptimizeSpec(source=ModelInput(model="sim"), max_drop=1.0, space=SPACE, out=tmp_path / "o")
    journal = Journal.open(spec.out, spec.identity())

    class Spent:  # the ledger's figures the report reads
        spent, by_stage, cached_hits = device.spent, {"screening": 1.0, "confirmation": 2.0}, 0

    report = write_outputs(spec=spec, journal=journal, entries=entries, sources={}, decision=decision,
                           ledger=Spent, fingerprint=device.fingerprint(), stopped=None, stages=[], wall_s=1.0)
    written = json.loads((spec.out / "optimize.json").read_text())
    validate_report(written)
    assert written["counts"]["winner"] == 1 and sum(written["counts"].values()) == len(entries) == 8
    assert written["counts"]["accuracy-drop"] == 2  # the two full-int8 candidates, over the drop on the host
    assert report["answer"].startswith(f"ship {decision.winner}") and "8 candidates" in report["answer"]
    md = (spec.out / "optimize.md").read_text()
    assert md == markdown(written) and md.count("\n| ") == 1 + 8 + 1 + 2  # header, 8 rows; stage header, 2 rows
    page = (spec.out / "optimize.html").read_text()
    assert page.count("<img ") >= 3 and "<h2>winner (1)</h2>" in page
    assert journal.runs()[-1]["answer"] == report["answer"]
