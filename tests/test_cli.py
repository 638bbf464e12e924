import json

import pytest
from click.testing import CliRunner

from edgebench.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def one_line_error(result, code=1):
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output
    return lines[0]


def test_models_lists_the_zoo():
    result = invoke("models", "--family", "resnet", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["resnet101"]["params"] == 42_512_970 and rows["resnet101"]["macs"] == 2_509_983_744


def test_unknown_model_names_close_matches(tmp_path):
    line = one_line_error(invoke("export", "resnet110", "--out", str(tmp_path / "b")))
    assert "unknown model 'resnet110'" in line and "resnet101" in line
    assert not (tmp_path / "b").exists()
    assert "did you mean vgg19" in one_line_error(invoke("train", "vgg91", "--epochs", "1"))


def test_missing_and_corrupt_checkpoint(tmp_path):
    line = one_line_error(invoke("export", "test_resnet", "--checkpoint", str(tmp_path / "no.pt"),
                                 "--out", str(tmp_path / "b")))
    assert "does not exist" in line
    (tmp_path / "bad.pt").write_bytes(b"\x00garbage")
    assert "corrupt" in one_line_error(invoke("export", "test_resnet", "--checkpoint", str(tmp_path / "bad.pt"),
                                              "--out", str(tmp_path / "b")))
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.pt"]


def test_checkpoint_of_another_model(trained_checkpoint, tmp_path):
    line = one_line_error(invoke("export", "test_vgg", "--checkpoint", str(trained_checkpoint),
                                 "--out", str(tmp_path / "b")))
    assert "holds 'test_resnet', not 'test_vgg'" in line


def test_bad_data_paths(tmp_path):
    assert "does not exist" in one_line_error(invoke("train", "test_vgg", "--data", str(tmp_path / "nope"),
                                                     "--epochs", "1", "--out", str(tmp_path / "m.pt")))
    (tmp_path / "x.csv").write_text("a,b\n")
    line = one_line_error(invoke("train", "test_vgg", "--data", str(tmp_path / "x.csv"), "--epochs", "1",
                                 "--out", str(tmp_path / "m.pt")))
    assert "not a dataset edgebench can read" in line and "idx:" in line
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("args, code, message", [
    (("export", "test_vgg", "--min-int8-agreement", "1.5"), 2, "--min-int8-agreement 1.5 is out of range"),
    (("export", "test_vgg", "--calibration-size", "0"), 2, "--calibration-size 0 is out of range"),
    (("export", "test_vgg", "--int8-config", "u4s4"), 1, "unknown int8 configuration 'u4s4'"),
    (("export", "test_vgg", "--format", "coreml"), 1, "unknown format 'coreml'"),
    (("export", "test_vgg", "--mean", "0.5,x"), 2, "'x' is not a number"),
    (("train", "test_vgg", "--epochs", "0"), 2, "--epochs 0 is out of range: give a whole number >= 1"),
    (("train", "test_vgg", "--augment", "rotate"), 1, "unknown augmentation 'rotate'"),
    (("report", "/nonexistent/results"), 1, "does not exist"),
    (("report", "/nonexistent", "--max-drop", "-1"), 2, "--max-drop -1 is out of range: give a number >= 0"),
    (("report", "/nonexistent", "--max-cv", "0"), 2, "--max-cv 0 is out of range"),
    (("report", "/nonexistent", "--min-runs", "0"), 2, "--min-runs 0 is out of range"),
    (("export", "test_vgg", "--max-drop", "-0.5", "--int8"), 2, "--max-drop -0.5 is out of range: give a number >= 0"),
    (("export", "test_vgg", "--max-drop", "1"), 2, "sets the int8 accuracy budget"),
    (("export", "test_vgg", "--seed", "-1"), 2, "--seed -1 is out of range"),
    (("train", "test_vgg", "--seed", "x"), 2, "--seed 'x' is not an integer"),
])
def test_out_of_range_values(args, code, message, tmp_path):
    """A bad option value is a usage error (exit 2), a bad name or path a refused input (exit 1): one line each."""
    result = invoke(*args, *(("--out", str(tmp_path / "o")) if args[0] != "report" else ()))
    assert message in one_line_error(result, code)
    assert not (tmp_path / "o").exists()


def test_report_command_writes_every_format(agent_result, tmp_path):
    (tmp_path / "r.json").write_text(json.dumps(agent_result))
    result = invoke("report", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md"), "--csv",
                    str(tmp_path / "r.csv"), "--json", str(tmp_path / "out.json"), "--max-drop", "1")
    assert result.exit_code == 0, result.output
    assert "onnx-int8" in result.output and "within 1.0 pp" in result.output
    assert (tmp_path / "r.md").read_text().startswith("| device |")
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 3
    assert json.loads((tmp_path / "out.json").read_text())["budget"][0]["device"] == agent_result["device"]["name"]
