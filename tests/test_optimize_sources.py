"""`edgebench optimize` with the optional sources: `--prune channel:...` (MODEL's channel-pruned copies) and
`--variants ... --variants-from ABLATION` (the study's variants). The option parsing and refusals are fast and
export nothing; the two end-to-end runs (`--device local`) are slow."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebench.cli import cli
from edgebench.errors import BadOptionError
from edgebench.optimize.sources import parse_prune, parse_selection

FAST = ("--format", "onnx", "--threads", "1", "--eval-size", "20", "--calibration-size", "8")
FORM = "give channel:R[,R...] with each R a fraction of channels in (0, 1), e.g. channel:0.25,0.5"


def optimize(*args):
    return CliRunner().invoke(cli, ["optimize", *args], catch_exceptions=False)


def test_prune_spec_parsing():
    axis = parse_prune("channel:0.5,0.25,0.5", fine_tune_epochs=0, fine_tune_lr=0.05, seed=3)
    assert (axis.method, axis.ratios, axis.fine_tune_epochs, axis.seed) == ("channel", (0.25, 0.5), 0, 3)
    assert axis.prune_spec(0.5).lr == 0.05 and parse_prune("channel:0.5").prune_spec(0.5).lr == 1e-2
    assert axis.prune_spec(0.25).schedule() == [0.25]  # one step to the ratio, the pruning package's own schedule
    assert axis.prune_spec(0.25).finetune_epochs == 0 and axis.prune_spec(0.25).method == "channel"
    for bad, what in (("channel:1.5", "ratio '1.5' is not a fraction in (0, 1)"), ("foo:0.5", "unknown method 'foo'"),
                      ("channel:", "names no ratio"), ("channel", "names no ratio"),
                      ("channel:0", "ratio '0' is not a fraction in (0, 1)"),
                      ("channel:nan", "ratio 'nan' is not a fraction in (0, 1)"),
                      ("unstructured:0.5", "unknown method 'unstructured'")):
        with pytest.raises(BadOptionError) as caught:
            parse_prune(bad)
        assert str(caught.value) == f"--prune '{bad}': {what}: {FORM}"


def test_variant_selection_parsing():
    assert parse_selection("6-14") == list(range(6, 15))
    assert parse_selection("6,10,13") == [6, 10, 13]
    assert parse_selection("13, 6-7,resnet101-v9, 6") == [13, 6, 7, "resnet101-v9"]
    for bad, what in (("9-6", "the range 9-6 is empty"), ("6-x", "'6-x' is not a variant"), ("", "names no variant")):
        with pytest.raises(BadOptionError, match=what):
            parse_selection(bad)


@pytest.mark.parametrize("args, expected", [
    (("--prune", "channel:1.5"), f"--prune 'channel:1.5': ratio '1.5' is not a fraction in (0, 1): {FORM}"),
    (("--prune", "foo:0.5"), f"--prune 'foo:0.5': unknown method 'foo': {FORM}"),
    (("--prune", "channel:"), f"--prune 'channel:': names no ratio: {FORM}"),
    (("--prune", "channel:0.5", "--checkpoint", "x.pt"), "--prune needs --data: the data set the pruned models are "
                                                         "fine-tuned on and measured with (e.g. --data digits)"),
    (("--prune", "channel:0.5", "--data", "digits"), "--prune needs --checkpoint: a trained checkpoint of test_resnet"),
    (("--fine-tune-epochs", "3"), "--fine-tune-epochs goes with --prune"),
    (("--prune", "channel:0.5", "--fine-tune-epochs", "-1"), "--fine-tune-epochs"),
    (("--prune", "channel:0.5", "--fine-tune-lr", "nan"), "--fine-tune-lr"),
    (("--prune", "", "--data", "digits"), f"--prune '': names no method: {FORM}"),
    (("--seed", "1"), "--seed goes with --prune"),
    (("--variants", "6-14"), "--variants needs --variants-from"),
    (("--variants", "6-x", "--variants-from", "."), "'6-x' is not a variant"),
    (("--prune", "channel:0.5", "--variants-from", "."), "--prune and --variants do not go together"),
])
def test_bad_source_options_exit_2_in_one_line(tmp_path, args, expected):
    result = optimize("test_resnet", "--max-drop", "1", *args, "--out", str(tmp_path / "o"), *FAST)
    assert result.exit_code == 2, result.stderr
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def ablation_folder(root: Path, indices=(11, 13)) -> Path:
    """The layout `edgebench ablation` leaves: its settings, one record and one checkpoint per finished variant
    (an unfinished one has a checkpoint but no record)."""
    folder = root / "ablation"
    (folder / "variants").mkdir(parents=True)
    (folder / "checkpoints").mkdir()
    (folder / "ablation-settings.json").write_text(json.dumps({"arch": "resnet101", "data": None}))
    for index in indices:
        name = f"resnet101-v{index}"
        (folder / "variants" / f"{name}.json").write_text(json.dumps({"index": index, "variant": name}))
        (folder / "checkpoints" / f"{name}.pt").write_bytes(b"checkpoint")
    (folder / "checkpoints" / "resnet101-v12.pt").write_bytes(b"interrupted")
    return folder


@pytest.mark.parametrize("model, selection, code, expected", [
    ("resnet101", "6-14", 1, "--variants 6-14: 6, 7, 8, 9, 10, 12, 14 are not in {folder}, which holds 11 "
                            "(resnet101-v11), 13 (resnet101-v13): choose from those, or train the others with "
                            "`edgebench ablation`"),
    ("resnet101", "12", 1, "--variants 12: 12 is not in {folder}, which holds 11 (resnet101-v11), 13 "
                          "(resnet101-v13)"),
    ("test_resnet", "11", 2, "MODEL 'test_resnet' does not go with --variants: give the ablation's architecture "
                             "(resnet101: its baseline is the reference) or one of the variants in {folder}: "
                             "resnet101-v11, resnet101-v13"),
])
def test_variants_not_in_the_folder_are_refused_naming_what_is_there(tmp_path, model, selection, code, expected):
    folder = ablation_folder(tmp_path)
    result = optimize(model, "--max-drop", "1", "--variants", selection, "--variants-from", str(folder), "--out",
                      str(tmp_path / "o"), *FAST)
    assert result.exit_code == code, result.stderr
    assert expected.format(folder=folder) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_variants_resolve_the_reference_and_the_order(tmp_path):
    from edgebench.optimize.host import ModelInput
    from edgebench.optimize.sources import resolve_variants, variant_sources

    folder = ablation_folder(tmp_path)
    axis = resolve_variants("resnet101", "13", folder)  # no v1, no ablation.json: the lowest finished index
    assert (axis.names, axis.reference, axis.arch) == (("resnet101-v13",), "resnet101-v11", "resnet101")
    sources = variant_sources(axis, ModelInput(model="resnet101", data="digits"))
    assert [(s.name, s.reference, s.searched) for s in sources] == [("resnet101-v11", True, False),
                                                                    ("resnet101-v13", False, True)]
    assert sources[1].input.checkpoint == str(folder / "checkpoints" / "resnet101-v13.pt")
    (folder / "ablation.json").write_text(json.dumps({"baseline": "resnet101-v13"}))
    assert resolve_variants("resnet101", None, folder).reference == "resnet101-v13"  # the ablation's own baseline
    assert resolve_variants("resnet101-v11", "11,13", folder).names == ("resnet101-v11", "resnet101-v13")


def test_an_out_folder_with_other_prune_settings_is_refused_naming_the_difference(tmp_path):
    from edgebench.optimize.host import ModelInput
    from edgebench.optimize.journal import Journal
    from edgebench.optimize.run import OptimizeSpec
    from edgebench.optimize.space import Space

    out = tmp_path / "o"
    source = ModelInput(model="test_resnet", checkpoint=str(tmp_path / "c.pt"), data="digits", eval_size=20,
                        calibration_size=8)
    space = Space(formats=("onnx",), threads=(1,))
    earlier = OptimizeSpec(source=source, space=space, out=out, prune=parse_prune("channel:0.5", fine_tune_epochs=0))
    Journal.open(out, earlier.identity())
    for axis, difference in ((parse_prune("channel:0.25,0.5", fine_tune_epochs=0), "prune.ratios [0.5] there, "
                                                                                    "[0.25, 0.5] here"),
                             (parse_prune("channel:0.5", fine_tune_epochs=1), "prune.fine_tune_epochs 0 there, 1 here"),
                             (parse_prune("channel:0.5", fine_tune_epochs=0, fine_tune_lr=0.05),
                              "prune.fine_tune_lr 0.01 there, 0.05 here"),
                             (None, 'prune {"method": "channel", "ratios": [0.5], "fine_tune_epochs": 0, '
                                    '"fine_tune_lr": 0.01, "seed": 0} there, null here')):
        later = OptimizeSpec(source=source, space=space, out=out, prune=axis)
        with pytest.raises(Exception, match=f"other settings \\({difference.replace('[', '.').replace(']', '.')}\\)"):
            Journal.check(out, later.identity())
    assert Journal.check(out, OptimizeSpec(source=source, space=space, out=out, prune=parse_prune(
        "channel:0.5", fine_tune_epochs=0)).identity())


def test_study_rows_pick_each_sources_best_artifact_and_mark_the_fronts():
    from edgebench.optimize import study

    def candidate(name, source, reason, mib, drop, ms=None, rss=None):
        device = {"screening-1": {"median_of_rounds_ms": ms, "peak_rss_mb": rss}} if ms is not None else {}
        return {"name": name, "source": source, "reason": reason, "bytes": int(mib * 2**20),
                "host": {"drop_pp": drop}, "device": device}

    sources = [{"name": "v6", "kind": "variant", "reference": True, "index": 6, "techniques": ["a", "b"],
                "params": 2_000_000, "flops": 79_000_000, "accuracy": 93.0},
               {"name": "v13", "kind": "variant", "reference": False, "index": 13, "techniques": ["c"],
                "params": 150_000, "flops": 12_800_000, "accuracy": 90.0},
               {"name": "v14", "kind": "variant", "reference": False, "index": 14, "techniques": [],
                "params": 160_000, "flops": 13_000_000, "accuracy": 60.0}]
    candidates = [candidate("v6-fp32", "v6", "winner", 8.0, 0.0, ms=4.0, rss=90.0),
                  candidate("v6-int8", "v6", "dominated", 2.0, 0.5, ms=5.0, rss=80.0),
                  candidate("v13-fp32", "v13", "accepted", 0.6, 3.0, ms=2.0, rss=70.0),
                  candidate("v13-int8", "v13", "accuracy-drop", 0.2, 9.0),  # over the budget: never the best
                  candidate("v14-fp32", "v14", "accuracy-drop", 0.6, 33.0)]
    rows = study.rows({"sources": sources, "candidates": candidates, "objective": "latency"})
    assert [(r["name"], r["best"], r["latency_ms"], r["peak_rss_mb"], r["mflops"]) for r in rows] == [
        ("v6", "v6-fp32", 4.0, 90.0, 79.0), ("v13", "v13-fp32", 2.0, 70.0, 12.8), ("v14", None, None, None, 13.0)]
    assert [r["pareto"] for r in rows] == ["latency+size", "latency+size", ""]
    assert [r["change_pp"] for r in rows] == [0.0, -3.0, None]
    headers, cells = study.cells(rows)
    assert headers[:3] == ["#", "source", "techniques"]
    assert cells[0][:4] == ["6", "v6 (reference)", "a > b", "2,000,000"] and cells[2][6] == "none (accuracy-drop)"
    by_size = study.rows({"sources": sources, "candidates": candidates, "objective": "size"})
    assert by_size[0]["best"] == "v6-int8" and by_size[0]["mib"] == 2.0


# ---- end to end on this machine ----------------------------------------------------------------------------------

RUN = ("--format", "onnx", "--threads", "1", "--graph-optimization", "all", "--eval-size", "100",
       "--calibration-size", "32", "--device-budget", "2m", "--quiet")


def run(out: Path, *args):
    result = CliRunner().invoke(cli, ["optimize", *args, *RUN, "--out", str(out)], catch_exceptions=False)
    report = json.loads((out / "optimize.json").read_text()) if (out / "optimize.json").is_file() else None
    return result, report


@pytest.mark.slow
def test_prune_end_to_end(trained_checkpoint, tmp_path):
    from edgebench.optimize.answer import validate_report

    out = tmp_path / "o"
    args = ("test_resnet", "--checkpoint", str(trained_checkpoint), "--data", "digits", "--max-drop", "100",
            "--prune", "channel:0.5", "--fine-tune-epochs", "0")
    result, report = run(out, *args)
    assert result.exit_code == 0, result.stderr
    validate_report(report)
    base, pruned = report["sources"]
    assert (base["kind"], base["reference"], pruned["kind"], pruned["name"]) == ("model", True, "pruned",
                                                                                "channel-0.5")
    assert pruned["params"] < 0.6 * base["params"] and pruned["flops"] < 0.6 * base["flops"]
    assert pruned["prune"]["achieved"] == pytest.approx(0.5, abs=0.02) and pruned["prune"]["fine_tune_epochs"] == 0
    names = [c["name"] for c in report["candidates"]]
    assert names == ["onnx-fp32", "onnx-int8", "onnx-int8-mix", "channel-0.5-onnx-fp32", "channel-0.5-onnx-int8",
                     "channel-0.5-onnx-int8-mix"]
    assert sum(report["counts"].values()) == len(names) and report["counts"]["winner"] == 1
    fp32 = {c["source"]: c for c in report["candidates"] if c["precision"] == "fp32"}
    # the pruned model's drop is measured from the unpruned fp32, not from its own fp32
    assert fp32["channel-0.5"]["host"]["reference_accuracy"] == fp32["test_resnet"]["host"]["accuracy"]
    assert fp32["channel-0.5"]["host"]["drop_pp"] == pytest.approx(base["accuracy"] - pruned["accuracy"], abs=0.01)
    assert fp32["channel-0.5"]["bytes"] < 0.7 * fp32["test_resnet"]["bytes"]
    assert any(stage.startswith("screening") for stage in fp32["channel-0.5"]["device"])  # measured on the device
    assert [r["name"] for r in report["study"]] == ["test_resnet", "channel-0.5"]
    assert "## Sources" in (out / "optimize.md").read_text()
    pruned_folder = next((out / "cache" / "pruned").iterdir())
    stamp = (pruned_folder / "pruning.json").stat().st_mtime_ns
    again, second = run(out, *args)  # the same command: never pruned, exported or measured again
    assert again.exit_code == 0, again.stderr
    assert second["device_seconds"]["spent"] == 0.0 and second["decision"] == report["decision"]
    assert (pruned_folder / "pruning.json").stat().st_mtime_ns == stamp
    assert len(list((out / "cache" / "pruned").iterdir())) == 1
    other, _ = run(out, *args[:-3], "channel:0.25", "--fine-tune-epochs", "0")
    assert other.exit_code == 1 and "prune.ratios [0.5] there, [0.25] here" in other.stderr


@pytest.fixture(scope="module")
def tiny_ablation(tmp_path_factory):
    """A real `edgebench ablation` run of variants 11 and 13, one epoch on 64 images."""
    from edgebench.ablation import AblationSpec, run_ablation
    from edgebench.train import TrainSpec

    out = tmp_path_factory.mktemp("ablation") / "resnet101"
    spec = AblationSpec(arch="resnet101", variants=("resnet101-v11", "resnet101-v13"),
                        train=TrainSpec(epochs=1, batch_size=32, lr=0.05, train_limit=64))
    run_ablation(spec, out, log=lambda line: None)
    return out


@pytest.mark.slow
def test_variants_end_to_end(tiny_ablation, tmp_path):
    from edgebench.optimize.answer import validate_report

    out = tmp_path / "o"
    result, report = run(out, "resnet101", "--variants", "13", "--variants-from", str(tiny_ablation),
                         "--max-drop", "100", "--precisions", "fp32,int8")
    assert result.exit_code == 0, result.stderr
    validate_report(report)
    assert [(s["name"], s["reference"], s["searched"]) for s in report["sources"]] == [
        ("resnet101-v11", True, False), ("resnet101-v13", False, True)]  # the ablation's baseline: fp32 only
    assert [c["name"] for c in report["candidates"]] == ["resnet101-v11-onnx-fp32", "resnet101-v13-onnx-fp32",
                                                         "resnet101-v13-onnx-int8"]
    assert sum(report["counts"].values()) == 3 and report["counts"]["winner"] == 1
    rows = {row["name"]: row for row in report["study"]}
    assert rows["resnet101-v13"]["params"] == 150_715 and rows["resnet101-v11"]["params"] == 400_115
    assert rows["resnet101-v13"]["mflops"] == pytest.approx(12.80, abs=0.01)
    assert rows["resnet101-v13"]["chain"].startswith("depthwise-separable > inverted-residual > ghost")
    assert all(row["latency_ms"] > 0 and row["mib"] > 0 for row in rows.values())
    assert any("latency" in row["pareto"] for row in rows.values())
    md = (out / "optimize.md").read_text()
    assert "## The study on this device" in md
    assert "| # | source | techniques | params | MFLOPs | fp32 accuracy % | best artifact |" in md
    assert "| 13 | resnet101-v13 | depthwise-separable > " in md and "| 11 | resnet101-v11 (reference) |" in md
    assert "id='study'" in (out / "optimize.html").read_text()
