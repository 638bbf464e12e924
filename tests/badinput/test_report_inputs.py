"""`edgebench report` on wrong files, wrong values and edited results: one line, a non-zero exit, nothing
outside the report's own outputs changed."""

import copy
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.cli import cli
from tests.badinput.conftest import assert_unchanged, one_error_line, tree_snapshot
from tests.test_report_units import BAD, EVAL_B, GOOD, make_result, make_run


def invoke(args, folder: Path):
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args])
    finally:
        os.chdir(cwd)


def refused(args, folder: Path, *fragments: str, code: int = 1) -> str:
    """Runs the command in `folder`; asserts the exit code, one `error:` line holding `fragments`, no
    traceback and no file in `folder` created, changed or removed. Returns the line."""
    before = tree_snapshot(folder)
    result = invoke(args, folder)
    assert result.exc_info is None or result.exc_info[0] is SystemExit, result.exc_info
    assert result.exit_code == code, result.output
    line = one_error_line(result.stderr)
    assert result.stderr.strip() == line, result.stderr
    for fragment in fragments:
        assert fragment in line, line
    assert_unchanged(before, folder)
    return line


def write(folder: Path, name: str, document) -> Path:
    path = folder / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def edited(change) -> dict:
    document = copy.deepcopy(GOOD)
    change(document)
    return document


@pytest.fixture
def folder(tmp_path):
    write(tmp_path, "good.json", GOOD)
    return tmp_path


def _set_latency(value):
    def change(document):
        document["runs"][1]["latency_ms"]["p50"] = value
    return change


@pytest.mark.parametrize("name, change, fragments", [
    ("nan.json", _set_latency(float("nan")), ["nan.json is invalid at runs[1].latency_ms.p50",
                                              "not a finite number"]),
    ("inf.json", _set_latency(float("inf")), ["inf.json is invalid at runs[1].latency_ms.p50",
                                              "not a finite number"]),
    ("negative.json", _set_latency(-0.5), ["negative.json does not follow the result schema at "
                                           "runs/1/latency_ms/p50", "less than the minimum of 0"]),
    ("nolatency.json", lambda d: d["runs"][0].pop("latency_ms"),
     ["nolatency.json is invalid at runs[0].latency_ms", "neither an error nor latency_ms"]),
    ("v2.json", lambda d: d.update(schema_version=2),
     ["v2.json has result schema_version 2; this edgebench reads version 1"]),
    ("vtext.json", lambda d: d.update(schema_version="1"), ["vtext.json has result schema_version '1'"]),
    ("nanacc.json", lambda d: d["runs"][0]["accuracy"].update(top1=float("nan")),
     ["nanacc.json is invalid at runs[0].accuracy.top1"]),
    ("runs.json", lambda d: d.update(runs={"onnx-fp32": {}}), ["runs.json does not follow the result schema at runs"]),
    ("threads.json", lambda d: d["settings"].update(threads="two"),
     ["threads.json does not follow the result schema at settings/threads: 'two' is not of type 'integer'"]),
    ("evalsha.json", lambda d: d["bundle"]["eval"].update(sha256=["a"]),
     ["evalsha.json is invalid at bundle.eval.sha256: ['a'] is not a text or null"]),
    ("model.json", lambda d: d["bundle"]["model"].update(name=7), ["model.json is invalid at bundle.model.name: 7"]),
    ("emulated.json", lambda d: d["device"].update(emulated="false"),
     ["emulated.json", "emulated", "'false'"]),  # the result schema or the report's own check
    ("thermal.json", lambda d: d["thermal"].update(flags="hot"),
     ["thermal.json is invalid at thermal.flags: 'hot' is not a list of texts"]),
    ("rounds.json", lambda d: d["runs"][0].update(rounds_ms=[0.6, 0.0, 0.61]),
     ["rounds.json is invalid at runs[0].rounds_ms: [0.6, 0.0, 0.61] is not a list of positive numbers"]),
    ("interval.json", lambda d: d["runs"][0]["latency_ms"].update(p50_ci95=[0.7, 0.6]),
     ["interval.json is invalid at runs[0].latency_ms.p50_ci95: [0.7, 0.6] is not [lo, hi] with 0 < lo <= hi"]),
    ("stability.json", lambda d: d["runs"][1].update(stability={"verdict": "fast", "reason": "edited"}),
     ["stability.json", "stability", "'fast'"]),  # the result schema or the report's own check
    ("interleave.json", lambda d: d["settings"].update(interleave="yes"), ["interleave.json", "interleave", "'yes'"]),
])
def test_edited_results_are_refused(folder, name, change, fragments):
    write(folder, name, edited(change))
    refused(["report", "good.json", name, "--json", "out.json"], folder, *fragments)


def test_an_edited_result_inside_a_folder_is_named(folder):
    (folder / "results").mkdir()
    write(folder / "results", "ok.json", GOOD)
    write(folder / "results", "edited.json", edited(_set_latency(float("nan"))))
    refused(["report", "results"], folder, "results/edited.json is invalid at runs[1].latency_ms.p50")


@pytest.mark.parametrize("content, fragments", [
    (b"not json at all", ["notes.json is not valid JSON"]),
    (b"\x00\xff\xfe binary", ["notes.json is not valid JSON"]),
    (json.dumps({"schema_version": 1, "kind": "edgebench.bundle"}).encode(), ["notes.json is not an edgebench result"]),
    (json.dumps([GOOD]).encode(), ["notes.json is not an edgebench result"]),
])
def test_files_that_are_not_results(folder, content, fragments):
    (folder / "notes.json").write_bytes(content)
    refused(["report", "notes.json"], folder, *fragments)


def test_missing_inputs(folder):
    refused(["report", "nothing.json"], folder, "nothing.json does not exist (give result files, folders or globs)")
    refused(["report", "res*/*.json"], folder, "res*/*.json does not exist")
    (folder / "empty").mkdir()
    refused(["report", "empty"], folder, "no edgebench results found in empty")
    os.mkfifo(folder / "pipe.json")
    refused(["report", "pipe.json"], folder, "pipe.json is not a file or folder")


@pytest.mark.parametrize("option, value, fragment", [
    ("--max-drop", "-1", "--max-drop -1 is out of range: give a number >= 0"),
    ("--max-drop", "nan", "--max-drop nan is not a finite number"),
    ("--max-drop", "inf", "--max-drop inf is not a finite number"),
    ("--max-cv", "0", "--max-cv 0 is out of range"),
    ("--max-cv", "nan", "--max-cv nan is not a finite number"),
    ("--min-runs", "0", "--min-runs 0 is out of range: give a whole number >= 1"),
    ("--min-eval-images", "-3", "--min-eval-images -3 is out of range"),
])
def test_out_of_range_options(folder, option, value, fragment):
    """Bad option values are usage errors (exit 2), as in every command."""
    refused(["report", "good.json", option, value, "--json", "out.json"], folder, fragment, code=2)


def test_wrong_type_options_are_usage_errors(folder):
    refused(["report", "good.json", "--max-drop", "one"], folder, "'one' is not a number", code=2)


def test_outputs_that_would_destroy_something(folder):
    refused(["report", "good.json", "--json", "good.json"], folder,
            "good.json is one of the results being read: give the report's output another path")
    refused(["report", "good.json", "--markdown", "same.txt", "--csv", "same.txt"], folder,
            "same.txt is given for two outputs")
    (folder / "taken").mkdir()
    refused(["report", "good.json", "--markdown", "report.md", "--json", "taken"], folder,
            "Invalid value for '--json': File 'taken' is a directory", code=2)
    (folder / "link.json").symlink_to(folder / "gone" / "x.json")
    refused(["report", "good.json", "--json", "link.json"], folder, "link.json")
    os.mkfifo(folder / "fifo")
    refused(["report", "good.json", "--csv", "fifo"], folder, "not a regular file")
    (folder / "file.png").write_text("x")
    refused(["report", "good.json", "--plots", "file.png"], folder,
            "Invalid value for '--plots': Directory 'file.png' is a file", code=2)


def test_baseline_choices(folder):
    write(folder, "tiny.json", BAD)
    refused(["report", "good.json", "tiny.json", "--baseline", "tflite-fp32"], folder,
            "baseline 'tflite-fp32' is not among the artifacts: choose from onnx-fp32, onnx-int8, resnet20/onnx-fp32")
    refused(["report", "good.json", "tiny.json", "--baseline", "onnx-fp32", "--max-drop", "1"], folder,
            "baseline 'onnx-fp32' names an artifact of 2 models", "give one of resnet20/onnx-fp32, tiny/onnx-fp32")
    result = invoke(["report", "good.json", "tiny.json", "--baseline", "tiny/onnx-fp32", "--max-drop", "1"], folder)
    assert result.exit_code == 0 and "[reference tiny onnx-fp32, 1.00 %]" in result.stdout


def test_only_errors_print_them_and_fail(folder):
    write(folder, "failed.json", make_result("resnet20", [make_run("onnx-fp32", p50=1.0, error="cannot load model"),
                                                          make_run("onnx-int8", p50=1.0, error="bad input")]))
    result = invoke(["report", "failed.json", "--json", "out.json"], folder)
    assert result.exit_code == 1
    assert "failed: pi5 resnet20 onnx-fp32: cannot load model" in result.stdout
    assert "failed: pi5 resnet20 onnx-int8: bad input" in result.stdout
    assert result.stderr.strip() == "error: no artifact was measured in 1 result file(s): 2 failure(s) listed above"
    assert not (folder / "out.json").exists()


def test_the_same_result_twice_counts_once(folder):
    (folder / "copy").mkdir()
    write(folder / "copy", "same.json", GOOD)
    result = invoke(["report", "good.json", "good.json", "*.json", "copy", "--csv", "out.csv"], folder)
    assert result.exit_code == 0, result.output
    assert len((folder / "out.csv").read_text().strip().splitlines()) == 3  # header + 2 artifacts
    assert "note: good.json was given twice: read once" in result.stderr
    assert "note: skipped copy/same.json: the same bytes as good.json" in result.stderr


def test_incomplete_result_is_flagged(folder):
    cut = make_result("resnet20", [make_run("onnx-fp32", p50=10.0, top1=0.92)], complete=False, error="interrupted",
                      device="pi4")
    write(folder, "cut.json", cut)
    result = invoke(["report", "cut.json", "--json", "out.json"], folder)
    assert result.exit_code == 0
    (row,) = json.loads((folder / "out.json").read_text())["rows"]
    assert "incomplete result (interrupted): the run stopped after 1 finished configuration(s)" in row["flags"]
    assert "flag: pi4 resnet20 onnx-fp32: incomplete result (interrupted)" in result.stdout


def test_two_models_one_reference(folder):
    """The reported trap: an untrained model must not be 'fastest within 1 pp' against its own fp32."""
    write(folder, "tiny.json", BAD)
    result = invoke(["report", "good.json", "tiny.json", "--max-drop", "1", "--json", "out.json"], folder)
    assert result.exit_code == 0
    (answer,) = json.loads((folder / "out.json").read_text())["budget"]
    assert (answer["fastest_model"], answer["fastest"], answer["reference"]) == ("resnet20", "onnx-int8",
                                                                                 "resnet20/onnx-fp32")
    assert "fastest tiny" not in result.stdout


def test_different_eval_sets_are_answered_apart(folder):
    other = copy.deepcopy(BAD)
    other["bundle"]["eval"]["sha256"] = EVAL_B
    write(folder, "other.json", other)
    result = invoke(["report", "good.json", "other.json", "--max-drop", "1"], folder)
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if line.startswith("within 1.0 pp")]
    assert len(lines) == 2
    assert "fastest resnet20 onnx-int8" in lines[0] and "evaluation set aaaaaaaaaaaa" in lines[0]
    assert "fastest tiny onnx-int8" in lines[1] and "evaluation set bbbbbbbbbbbb" in lines[1]
    assert all("compared only with results on the same set" in line for line in lines)


def test_emulated_results_stay_apart(folder):
    emulated = make_result("resnet20", [make_run("onnx-fp32", p50=900.0, top1=0.92),
                                        make_run("onnx-int8", p50=0.001, top1=0.92)], device="qemu", emulated=True)
    write(folder, "qemu.json", emulated)
    result = invoke(["report", "good.json", "qemu.json", "--max-drop", "1", "--json", "out.json"], folder)
    assert result.exit_code == 0
    budget = json.loads((folder / "out.json").read_text())["budget"]
    assert [(a["device"], a["emulated"]) for a in budget] == [("pi5", False), ("qemu", True)]
    assert "(emulated devices)" in result.stdout


def test_full_disk_and_read_only_outputs(folder, tiny_tmpfs, read_only_dir):
    from tests.badinput.conftest import fill_disk

    fill_disk(tiny_tmpfs)
    before = tree_snapshot(tiny_tmpfs)
    refused(["report", "good.json", "--html", tiny_tmpfs / "report.html"], folder,
            f"cannot write {tiny_tmpfs / 'report.html'}: no space left on the device")
    assert_unchanged(before, tiny_tmpfs)
    refused(["report", "good.json", "--json", read_only_dir / "out.json"], folder,
            f"cannot write {read_only_dir / 'out.json'}")
    assert not any(read_only_dir.iterdir())
