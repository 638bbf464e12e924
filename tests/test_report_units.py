"""The report's pure parts on hand-written results: rows, one reference, flags and the within-budget answer."""

import copy
import json
from pathlib import Path

import pytest

from edgebench.errors import EdgebenchError
from edgebench.report import (Candidate, answer_within_budget, build_rows, load_results, with_baselines,
                              within_budget)
from edgebench.report.flags import FlagThresholds, flag_rows
from edgebench.report.load import LoadedResult
from edgebench.report.table import rows_from_results

EVAL_A, EVAL_B = "a" * 64, "b" * 64


def make_run(artifact, *, p50, top1=None, count=1000, fmt=None, precision=None, file_bytes=2**20, cv=0.02, n=200,
             error=None, peak_rss_mb=100.0):
    fmt = fmt or artifact.split("-")[0]
    precision = precision or artifact.split("-")[1]
    run = {"artifact": artifact, "file": f"{artifact}.{fmt}", "format": fmt, "precision": precision,
           "backend": "onnxruntime" if fmt == "onnx" else "tflite", "error": error, "file_bytes": file_bytes}
    if error:
        return run
    run["latency_ms"] = {"n": n, "mean": p50, "std": p50 * cv, "min": 0.9 * p50, "p50": p50, "p90": 1.1 * p50,
                         "p95": 1.2 * p50, "p99": 1.3 * p50, "max": 1.5 * p50, "cv": cv}
    run["memory"] = {"peak_rss_mb": peak_rss_mb}
    run["accuracy"] = None if top1 is None else {"top1": top1, "correct": round(top1 * count), "count": count}
    return run


def make_result(model, runs, *, device="pi5", eval_sha=EVAL_A, threads=1, complete=True, error=None,
                emulated=None, eval_limit=None):
    facts = {"name": device, "machine": "aarch64", "system": "Linux"}
    if emulated is not None:
        facts["emulated"] = emulated
    return {"schema_version": 1, "kind": "edgebench.result", "agent_version": "0.1.0",
            "created_utc": "2026-11-27T00:00:00+00:00", "complete": complete, "error": error,
            "bundle": {"path": f"/bundles/{model}", "manifest_sha256": "c" * 64,
                       "model": {"name": model, "params": 1000}, "eval": {"file": "eval.npz", "sha256": eval_sha}},
            "device": facts, "settings": {"threads": threads, "batch_size": 1, "eval_limit": eval_limit},
            "thermal": {"flags": []}, "runs": runs}


def loaded(*documents):
    return [LoadedResult(path=Path(f"r{i}.json"), document=doc) for i, doc in enumerate(documents)]


def write(folder, name, document):
    path = Path(folder) / name
    path.write_text(json.dumps(document))
    return path


GOOD = make_result("resnet20", [make_run("onnx-fp32", p50=10.0, top1=0.92, file_bytes=4 * 2**20),
                                make_run("onnx-int8", p50=4.0, top1=0.915, file_bytes=2**20)])
# The trap of the old answer: an untrained model whose own int8 loses nothing against its own fp32.
BAD = make_result("tiny", [make_run("onnx-fp32", p50=1.0, top1=0.01, file_bytes=2**18),
                           make_run("onnx-int8", p50=0.5, top1=0.01, file_bytes=2**16)])


# ---- the budget answer on plain values ----

def test_budget_answer_picks_smallest_and_fastest_within():
    candidates = [Candidate(name="fp32", accuracy=92.0, size=4.0, latency=10.0),
                  Candidate(name="int8", accuracy=91.5, size=1.0, latency=4.0),
                  Candidate(name="fp16", accuracy=91.9, size=2.0, latency=3.0),
                  Candidate(name="broken", accuracy=50.0, size=0.1, latency=0.1)]
    answer = answer_within_budget(reference_accuracy=92.0, candidates=candidates, max_drop_pp=1.0)
    assert (answer.smallest.name, answer.fastest.name, answer.within, answer.withheld) == ("int8", "fp16", 3, None)
    tight = answer_within_budget(reference_accuracy=92.0, candidates=candidates, max_drop_pp=0.1)
    assert (tight.smallest.name, tight.fastest.name, tight.within) == ("fp16", "fp16", 2)
    exact = answer_within_budget(reference_accuracy=92.0, candidates=candidates, max_drop_pp=0.5)
    assert exact.smallest.name == "int8"  # a drop equal to the budget is within it


def test_budget_answer_ties_and_unknowns():
    candidates = [Candidate(name="a", accuracy=90.0, size=1.0, latency=2.0),
                  Candidate(name="b", accuracy=90.0, size=1.0, latency=1.0),
                  Candidate(name="c", accuracy=90.0, size=None, latency=0.5)]
    answer = answer_within_budget(reference_accuracy=90.0, candidates=candidates, max_drop_pp=0.0)
    assert answer.smallest.name == "b"  # equal size: the faster one
    assert answer.fastest.name == "c"   # an unknown size does not stop it from being the fastest


@pytest.mark.parametrize("reference, candidates, reason", [
    (None, [Candidate(name="a", accuracy=90.0, size=1.0, latency=1.0)], "no reference accuracy"),
    (float("nan"), [Candidate(name="a", accuracy=90.0, size=1.0, latency=1.0)], "no reference accuracy"),
    (90.0, [Candidate(name="a", accuracy=None, size=1.0, latency=1.0)], "no candidate has a measured accuracy"),
    (90.0, [Candidate(name="a", accuracy=80.0, size=1.0, latency=1.0),
            Candidate(name="b", accuracy=85.0, size=2.0, latency=1.0)],
     "no candidate is within 1 pp of 90 % (the most accurate, b, is 5 pp below)"),
])
def test_budget_answer_withheld(reference, candidates, reason):
    answer = answer_within_budget(reference_accuracy=reference, candidates=candidates, max_drop_pp=1.0)
    assert answer.smallest is None and answer.fastest is None and reason in answer.withheld


@pytest.mark.parametrize("budget", [-0.5, float("nan"), float("inf")])
def test_budget_answer_refuses_a_bad_budget(budget):
    with pytest.raises(EdgebenchError, match="out of range"):
        answer_within_budget(reference_accuracy=90.0, candidates=[], max_drop_pp=budget)


# ---- rows, one reference, flags ----

def test_one_reference_across_models_on_the_same_eval_set():
    rows, failures = build_rows(loaded(GOOD, BAD))
    assert failures == []
    by = {(r.model, r.artifact): r for r in rows}
    assert {(r.baseline_model, r.baseline) for r in rows} == {("resnet20", "onnx-fp32")}
    assert by[("resnet20", "onnx-int8")].drop_pp == pytest.approx(0.5)
    assert by[("tiny", "onnx-int8")].drop_pp == pytest.approx(91.0)
    assert by[("tiny", "onnx-int8")].speedup == pytest.approx(20.0)  # against resnet20 onnx-fp32 on the same device
    assert by[("resnet20", "onnx-int8")].size_ratio == pytest.approx(4.0)
    (answer,) = within_budget(rows, 1.0)
    assert (answer.fastest.model, answer.fastest.artifact) == ("resnet20", "onnx-int8")
    assert answer.answer.reference_accuracy == pytest.approx(92.0)
    assert answer.other_models() == []


def test_winner_of_another_model_is_said_so():
    close = make_result("mobilenet", [make_run("onnx-int8", p50=1.0, top1=0.918, file_bytes=2**19)])
    rows, _ = build_rows(loaded(GOOD, close))
    (answer,) = within_budget(rows, 1.0)
    assert (answer.fastest.model, answer.smallest.model) == ("mobilenet", "mobilenet")
    assert answer.other_models() == ["mobilenet"]
    from edgebench.report.render import describe_answer

    text = describe_answer(answer)
    assert text.startswith("within 1.0 pp on pi5: fastest mobilenet onnx-int8 (1.000 ms p50, 0.500 MiB, drop +0.20 pp)")
    assert "[reference resnet20 onnx-fp32, 92.00 %]" in text
    assert "[the winner is a different model (mobilenet) from the reference (resnet20)]" in text


def test_different_eval_sets_are_never_compared():
    other = copy.deepcopy(BAD)
    other["bundle"]["eval"]["sha256"] = EVAL_B
    rows, _ = build_rows(loaded(GOOD, other))
    by = {(r.model, r.artifact): r for r in rows}
    assert by[("tiny", "onnx-int8")].baseline_model == "tiny" and by[("tiny", "onnx-int8")].drop_pp == 0.0
    assert by[("resnet20", "onnx-int8")].baseline_model == "resnet20"
    answers = within_budget(rows, 1.0)
    assert [(a.eval_sha256, a.fastest.model) for a in answers] == [(EVAL_A, "resnet20"), (EVAL_B, "tiny")]
    assert all(a.several_domains for a in answers)
    limited = copy.deepcopy(BAD)
    limited["settings"]["eval_limit"] = 100  # the same file, but only its first 100 images
    rows, _ = build_rows(loaded(GOOD, limited))
    assert {r.model: r.baseline_model for r in rows} == {"resnet20": "resnet20", "tiny": "tiny"}


def test_emulated_devices_are_compared_only_with_each_other():
    emulated = make_result("resnet20", [make_run("onnx-fp32", p50=900.0, top1=0.92),
                                        make_run("onnx-int8", p50=0.01, top1=0.92)], device="qemu", emulated=True)
    rows, _ = build_rows(loaded(GOOD, emulated))
    answers = within_budget(rows, 1.0)
    assert [(a.device, a.emulated, a.fastest.artifact) for a in answers] == [
        ("pi5", False, "onnx-int8"), ("qemu", True, "onnx-int8")]
    marked_on_top = make_result("resnet20", [make_run("onnx-fp32", p50=900.0, top1=0.92)], device="qemu2")
    marked_on_top["emulated"] = True  # the agent marks it on the result as well as in the device facts
    (row,) = build_rows(loaded(marked_on_top))[0]
    assert row.emulated and any("emulated device" in f for f in row.flags)
    qemu = [r for r in rows if r.device == "qemu"]
    assert all(any("emulated device" in f for f in r.flags) for r in qemu)
    assert not any("emulated" in f for r in rows if r.device == "pi5" for f in r.flags)


def test_with_baselines_named_reference():
    rows, _ = rows_from_results(loaded(GOOD, BAD))
    named = with_baselines(rows, "tiny/onnx-fp32")
    by = {(r.model, r.artifact): r for r in named}
    assert by[("resnet20", "onnx-fp32")].drop_pp == pytest.approx(-91.0)
    assert by[("resnet20", "onnx-fp32")].speedup == pytest.approx(0.1)
    with pytest.raises(EdgebenchError, match="names an artifact of 2 models measured on the same evaluation set: "
                                             "give one of resnet20/onnx-fp32, tiny/onnx-fp32"):
        with_baselines(rows, "onnx-fp32")
    with pytest.raises(EdgebenchError, match="baseline 'tflite-fp32' is not among the artifacts"):
        with_baselines(rows, "tflite-fp32")


def test_with_baselines_keeps_the_single_model_figures():
    two_threads = make_result("resnet20", [make_run("onnx-fp32", p50=6.0, top1=0.92),
                                           make_run("onnx-int8", p50=2.0, top1=0.915)], threads=2)
    tflite = make_result("resnet20", [make_run("tflite-fp32", p50=8.0, top1=0.925, file_bytes=4 * 2**20)])
    rows, _ = rows_from_results(loaded(GOOD, two_threads, tflite))
    out = {(r.artifact, r.threads): r for r in with_baselines(rows)}
    assert out[("onnx-int8", 1)].speedup == 2.5 and out[("onnx-int8", 2)].speedup == 3.0
    # The reference is the model's fp32 ONNX even where its fp32 TFLite scored a little higher.
    assert out[("tflite-fp32", 1)].baseline == "onnx-fp32" and out[("tflite-fp32", 1)].drop_pp == pytest.approx(-0.5)
    assert out[("onnx-int8", 1)].drop_pp == pytest.approx(0.5)


def test_flag_rows():
    noisy = make_result("resnet20", [make_run("onnx-fp32", p50=10.0, top1=0.92, cv=0.3, n=12, count=50)],
                        device="pi4", complete=False, error="interrupted")
    noisy["thermal"]["flags"] = ["throttling reported by the firmware (0x50005)"]
    other_set = copy.deepcopy(GOOD)
    other_set["device"]["name"] = "pi3"
    other_set["bundle"]["eval"]["sha256"] = EVAL_B
    rows, _ = rows_from_results(loaded(GOOD, noisy, other_set))
    flagged = {(r.device, r.artifact): r.flags for r in flag_rows(rows, FlagThresholds(max_cv=0.1, min_runs=50,
                                                                                          min_eval_images=100))}
    assert flagged[("pi4", "onnx-fp32")] == (
        "throttling reported by the firmware (0x50005)",
        "incomplete result (interrupted): the run stopped after 1 finished configuration(s)",
        "noisy timing: CV 30 % > 10 % (no p50 interval in this result: measure with rounds for one)", "only 12 timed runs (< 50)", "accuracy on only 50 images (< 100)",
        "results of this model were scored on different evaluation sets")
    assert flagged[("pi5", "onnx-int8")] == ("results of this model were scored on different evaluation sets",)
    strict = {(r.device, r.artifact): r.flags for r in flag_rows(rows[:2], FlagThresholds(max_cv=0.01))}
    assert strict[("pi5", "onnx-int8")] == ("noisy timing: CV 2 % > 1 % (no p50 interval in this result: measure with rounds for one)",)
    with pytest.raises(TypeError):
        FlagThresholds(0.1, 50, 100)  # keyword only


def test_failures_and_incomplete_results():
    failed = make_result("resnet20", [make_run("onnx-fp32", p50=1.0, error="onnxruntime: cannot load")])
    crashed = make_result("resnet20", [], complete=False, error="the evaluation set could not be read")
    cut = make_result("resnet20", [], complete=False)
    rows, failures = build_rows(loaded(failed, crashed, cut))
    assert rows == []
    assert [(f.artifact, f.error) for f in failures] == [
        ("onnx-fp32", "onnxruntime: cannot load"), ("(bundle)", "the evaluation set could not be read"),
        ("(bundle)", "incomplete result with no finished artifact")]


def test_duplicates_are_read_once(tmp_path):
    first = write(tmp_path, "a.json", GOOD)
    write(tmp_path, "copy.json", GOOD)
    heard = []
    results = load_results([str(first), str(first), str(tmp_path / "*.json"), str(tmp_path)],
                           on_duplicate=lambda path, original: heard.append((path.name, original.name)))
    assert [r.path.name for r in results] == ["a.json"]
    assert heard[:2] == [("a.json", "a.json"), ("a.json", "a.json")] and ("copy.json", "a.json") in heard
    rows, _ = build_rows(results)
    assert len(rows) == 2


# ---- the same answer in the ablation table and the pruning study ----

def test_ablation_table_uses_the_budget_answer():
    from edgebench.ablation.table import answer, build_table

    rows = [{"variant": "a", "index": 1, "params": 100, "mflops": 50.0, "accuracy": 90.0},
            {"variant": "b", "index": 2, "params": 10, "mflops": 60.0, "accuracy": 88.0},
            {"variant": "c", "index": 3, "params": 20, "mflops": 5.0, "accuracy": 85.0}]
    table = build_table("resnet101", rows, "b", max_drop=1.0)  # a is more accurate than the baseline: drop -2
    assert (table.smallest["variant"], table.cheapest["variant"], table.withheld) == ("b", "a", None)
    none = build_table("resnet101", rows, "a", max_drop=0.0)
    assert none.smallest["variant"] == "a"
    with pytest.raises(EdgebenchError, match="baseline 'z' was not measured: choose from a, b, c"):
        build_table("resnet101", rows, "z", max_drop=1.0)
    with pytest.raises(EdgebenchError, match="out of range"):
        build_table("resnet101", rows, "a", max_drop=-1.0)
    assert answer(table)[0] == "smallest within 1 pp of b: b (10 params, 60.0 MFLOPs, 88.0 %, drop 0.0 pp)"


def test_pruning_study_answer_and_csv():
    from edgebench.prune.study import answer_lines, csv_text, markdown, study_answer

    def row(iteration, fp32, int8, gzip, p50):
        return {"iteration": iteration, "sparsity": 20.0 * iteration, "params": 1000, "macs": 1.5,
                "fp32_accuracy": fp32, "int8_accuracy": int8, "fp32_mib": 1.0, "fp32_gzip_mib": gzip,
                "int8_mib": 0.25, "int8_gzip_mib": gzip / 4, "fp32_p50_ms": p50, "int8_p50_ms": p50 / 2}

    rows = [row(0, 92.0, 91.8, 0.9, 2.0), row(1, 91.6, 90.5, 0.6, 1.8), row(2, 85.0, 84.0, 0.3, 1.7)]
    answer = study_answer(rows, 0.5)
    assert (answer.smallest.name, answer.fastest.name, answer.within) == ("iteration 0 int8", "iteration 0 int8", 3)
    assert study_answer(rows, 2.0).smallest.name == "iteration 1 int8"
    assert answer_lines(answer) == [
        "smallest within 0.5 pp of the unpruned fp32 (92.0 %): iteration 0 int8 (0.225 MiB gzip, 91.8 %)",
        "fastest within 0.5 pp of the unpruned fp32 (92.0 %): iteration 0 int8 (1.0 ms p50, 91.8 %)"]
    assert markdown(rows, answer).endswith("- fastest within 0.5 pp of the unpruned fp32 (92.0 %): iteration 0 int8 "
                                           "(1.0 ms p50, 91.8 %)\n")
    no_dense = study_answer(rows[1:], 0.5)
    assert no_dense.withheld == "there is no reference accuracy to measure the drop from"
    lines = csv_text([{**rows[0], "fp32_accuracy": None}]).splitlines()
    assert lines[0].startswith("iteration,sparsity,params,macs,fp32_accuracy,int8_accuracy")
    assert lines[1] == "0,0.0,1000,1.5,,91.8,1.0,0.9,0.25,0.225,2.0,1.0"
