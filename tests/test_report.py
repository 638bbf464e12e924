import copy
import csv
import io
import json

import pytest

from edgebench.errors import EdgebenchError
from edgebench.report import build_rows, load_results, render, within_budget


def _write(path, document):
    path.write_text(json.dumps(document))
    return path


def _second_device(result):
    other = copy.deepcopy(result)
    other["device"]["name"] = "pi5"
    for run, factor in zip(other["runs"], (4.0, 2.0)):
        for key in ("mean", "min", "p50", "p90", "p95", "p99", "max"):
            run["latency_ms"][key] *= factor
        if run.get("rounds_ms"):
            run["rounds_ms"] = [factor * value for value in run["rounds_ms"]]
            run["latency_ms"]["p50_ci95"] = [factor * value for value in run["latency_ms"]["p50_ci95"]]
    other["runs"][1]["accuracy"]["top1"] = other["runs"][0]["accuracy"]["top1"] - 0.02
    return other


def test_report_on_two_results(agent_result, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    _write(folder / "host.json", agent_result)
    _write(folder / "pi5.json", _second_device(agent_result))
    (folder / "manifest.json").write_text("{}")  # other JSON files in a results folder are skipped
    rows, failures = build_rows(load_results([str(folder)]))
    assert failures == [] and len(rows) == 4
    pi = {r.artifact: r for r in rows if r.device == "pi5"}
    assert pi["onnx-fp32"].speedup == 1.0 and pi["onnx-fp32"].drop_pp == 0.0
    assert pi["onnx-int8"].drop_pp == pytest.approx(2.0, abs=1e-3)
    expected = (agent_result["runs"][0]["latency_ms"]["p50"] * 4) / (agent_result["runs"][1]["latency_ms"]["p50"] * 2)
    assert pi["onnx-int8"].speedup == pytest.approx(expected, rel=1e-3)

    table = render.terminal(rows)
    assert "pi5" in table and "onnx-int8" in table and "speedup" in table
    md = render.markdown(rows)
    assert md.split("\n\n")[0].count("\n|") == 5  # the first table: separator + 4 rows after the header
    assert "## Confidence and ranking" in md
    assert md.count("### ") == 2 + ("### Across results" in md)  # one ranking table per result
    parsed = list(csv.DictReader(io.StringIO(render.csv_text(rows))))
    assert len(parsed) == 4 and {"drop_pp", "speedup", "p50_ms"} <= set(parsed[0])


def test_max_drop_answer_and_baseline(agent_result, tmp_path):
    path = _write(tmp_path / "pi5.json", _second_device(agent_result))
    rows, _ = build_rows(load_results([str(path)]))
    (strict,) = within_budget(rows, 1.0)
    assert strict.fastest.artifact == "onnx-fp32"   # int8 loses 2 pp: outside a 1 pp budget
    (loose,) = within_budget(rows, 3.0)
    assert loose.fastest.artifact == "onnx-int8"
    rows, _ = build_rows(load_results([str(path)]), baseline="onnx-int8")
    assert {r.artifact: r.baseline for r in rows} == {"onnx-fp32": "onnx-int8", "onnx-int8": "onnx-int8"}
    with pytest.raises(EdgebenchError, match="baseline 'tflite-int8' is not among"):
        build_rows(load_results([str(path)]), baseline="tflite-int8")


def test_invalid_results_are_rejected(agent_result, tmp_path):
    broken = copy.deepcopy(agent_result)
    del broken["runs"][0]["backend"]
    path = _write(tmp_path / "broken.json", broken)
    with pytest.raises(EdgebenchError, match="does not follow the result schema"):
        load_results([str(path)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgebenchError, match="no edgebench results"):
        load_results([str(tmp_path / "empty")])
    with pytest.raises(EdgebenchError, match="does not exist"):
        load_results([str(tmp_path / "nothing*.json")])
