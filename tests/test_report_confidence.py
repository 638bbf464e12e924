"""The report on schema-minor-2 results: p50 intervals, stability, rankings that name a fastest only when the
data separates it, settings sweeps, unpaired comparisons across results; older results still render."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from device_agent import stats
from device_agent.schema import validate
from edgebench.report import build_rows, load_results, render, within_budget
from edgebench.report.html import render_html
from edgebench.report.intervals import unpaired_ratio_ci
from edgebench.report.load import LoadedResult
from edgebench.report.sections import OPTIONAL_SECTIONS, available
from tests.test_report_units import make_result, make_run

ROUNDS = 10
RUNS_PER_ROUND = 200


def measured_run(artifact, *, p50, top1=0.91, seed=0, noise=0.03, drift=None, config=None, threads=1,
                 file_bytes=2**20, stability=None):
    """A run as the agent writes it with 10 interleaved rounds: samples around `p50` with lognormal noise,
    scaled per round by `drift` (what all configurations of the round share)."""
    generator = np.random.default_rng(seed)
    drift = np.ones(ROUNDS) if drift is None else np.asarray(drift)
    samples = (p50 * drift[:, None] * generator.lognormal(0.0, noise, (ROUNDS, RUNS_PER_ROUND))).ravel()
    rounds = [round(float(np.median(chunk)), 5) for chunk in np.split(samples, ROUNDS)]
    run = make_run(artifact, p50=float(np.median(samples)), top1=top1, n=samples.size, file_bytes=file_bytes,
                   cv=float(samples.std(ddof=1) / samples.mean()))
    run["config"] = config or artifact
    run["setting"] = {"threads": threads, "xnnpack": None, "ort_graph_optimization": "all",
                      "ort_execution_mode": "sequential"}
    run["rounds_ms"] = rounds
    run["latency_ms"].update(stats.latency_summary_ci(rounds, list(samples)))
    run["latency_ms"]["target_ci_met"] = None
    run["stability"] = stability or stats.stability(list(samples), rounds)
    return run


def minor2(model, runs, *, device="pi5", interleave=True, seed=0):
    document = make_result(model, runs, device=device)
    document["schema_minor"] = 2
    document["settings"].update({"rounds": ROUNDS, "target_ci_pct": None, "interleave": interleave})
    document["comparison"] = stats.rank(runs)
    return document


def drift(seed):
    """What a busy machine does to whole rounds: a few percent up and down, shared by everything measured."""
    return np.random.default_rng(100 + seed).lognormal(0.0, 0.05, ROUNDS)


SEPARATED = minor2("resnet8", [measured_run("onnx-fp32", p50=0.64, top1=0.912, seed=1, drift=drift(1)),
                               measured_run("onnx-int8", p50=0.43, top1=0.905, seed=2, drift=drift(1),
                                            file_bytes=2**18)])
SAME = minor2("resnet8", [measured_run("onnx-fp32", p50=0.64, top1=0.912, seed=3, drift=drift(2)),
                          measured_run("onnx-fp32", p50=0.64, top1=0.912, seed=4, drift=drift(2),
                                       config="onnx-fp32#2")])
CLOSE = minor2("resnet8", [measured_run("onnx-fp32", p50=0.640, top1=0.912, seed=5, drift=drift(3)),
                           measured_run("onnx-int8", p50=0.636, top1=0.910, seed=6, drift=drift(3),
                                        file_bytes=2**18)])


def _rows(*documents):
    loaded = [LoadedResult(path=Path(f"r{i}.json"), document=doc) for i, doc in enumerate(documents)]
    rows, failures = build_rows(loaded)
    assert failures == []
    return rows, loaded


@pytest.mark.parametrize("document", [SEPARATED, SAME, CLOSE])
def test_constructed_results_follow_the_agent_schema_and_load(document, tmp_path):
    validate(document, "result", "constructed")
    path = tmp_path / "result.json"
    path.write_text(json.dumps(document))
    (loaded,) = load_results([str(path)])
    assert loaded.document["schema_minor"] == 2


def test_a_separated_fastest_is_named_with_its_ratio():
    rows, _ = _rows(SEPARATED)
    by_label = {row.label: row for row in rows}
    assert by_label["onnx-int8"].p50_ci95[0] <= by_label["onnx-int8"].p50_ms <= by_label["onnx-int8"].p50_ci95[1]
    text = render.markdown(rows)
    line = next(line for line in text.splitlines() if "is fastest" in line)
    assert line.startswith("- onnx-int8 is fastest: the runner-up onnx-fp32 is slower, ratio 1.4")
    ranking = json.loads(render.json_text(rows, [], []))["comparisons"]
    assert ranking[0]["fastest"] == "onnx-int8" and ranking[0]["separated"] is True
    (entry,) = ranking[0]["entries"]
    assert entry["verdict"] == "slower" and entry["paired"] is True
    assert 1.40 < entry["ratio"] < 1.58 and entry["ratio_ci95"][0] > 1.0
    # The same verdict as the agent's own comparison, which the report's ranking reproduces.
    assert SEPARATED["comparison"]["reference"] == "onnx-int8" and SEPARATED["comparison"]["separated"] is True


@pytest.mark.parametrize("document, names", [(SAME, ("onnx-fp32", "onnx-fp32#2")), (CLOSE, ("onnx-int8", "onnx-fp32"))])
def test_indistinguishable_configurations_name_no_winner(document, names):
    rows, _ = _rows(document)
    text = render.markdown(rows)
    assert "is fastest" not in text
    assert "are indistinguishable (ratio" in text
    assert all(name in text for name in names)
    ranking = json.loads(render.json_text(rows, [], []))["comparisons"][0]
    assert ranking["fastest"] is None and ranking["separated"] is False
    assert ranking["entries"][0]["verdict"] == "indistinguishable"
    assert document["comparison"]["separated"] is False


def test_budget_answer_names_the_fastest_only_when_separated():
    rows, _ = _rows(CLOSE)
    (answer,) = within_budget(rows, 1.0)
    text = render.describe_answer(answer)
    assert text.startswith("within 1.0 pp on pi5: fastest: resnet8 onnx-int8 and resnet8 onnx-fp32 are "
                           "indistinguishable (ratio resnet8 onnx-fp32/resnet8 onnx-int8 ")
    budget = json.loads(render.json_text(rows, [], [answer]))["budget"][0]
    assert budget["fastest"] is None and budget["lowest_p50"] == "onnx-int8"
    assert budget["fastest_separated"] is False and budget["indistinguishable"] == ["onnx-fp32"]

    rows, _ = _rows(SEPARATED)
    (answer,) = within_budget(rows, 1.0)
    text = render.describe_answer(answer)
    assert "fastest resnet8 onnx-int8 (" in text and "separated from the runner-up resnet8 onnx-fp32 (ratio 1.4" in text
    budget = json.loads(render.json_text(rows, [], [answer]))["budget"][0]
    assert budget["fastest"] == "onnx-int8" and budget["fastest_separated"] is True


def test_settings_sweep_names_the_fastest_setting_per_artifact():
    shared = drift(4)
    label = "onnx-fp32 threads={} opt=all mode=sequential"
    runs = [measured_run("onnx-fp32", p50=0.64, seed=7, drift=shared, config=label.format(1), threads=1),
            measured_run("onnx-fp32", p50=0.38, seed=8, drift=shared, config=label.format(2), threads=2),
            measured_run("onnx-fp32", p50=0.385, seed=9, drift=shared, config=label.format(4), threads=4)]
    rows, _ = _rows(minor2("resnet8", runs))
    assert sorted(row.threads for row in rows) == [1, 2, 4]
    text = render.markdown(rows)
    sweep = next(line for line in text.splitlines() if "settings of onnx-fp32" in line)
    assert ("onnx-fp32 threads=2 opt=all mode=sequential and onnx-fp32 threads=4 opt=all mode=sequential are "
            "indistinguishable") in sweep
    runs[2] = measured_run("onnx-fp32", p50=0.52, seed=9, drift=shared, config=label.format(4), threads=4)
    rows, _ = _rows(minor2("resnet8", runs))
    sweep = next(line for line in render.markdown(rows).splitlines() if "fastest setting of onnx-fp32" in line)
    assert sweep.startswith("- fastest setting of onnx-fp32: onnx-fp32 threads=2 opt=all mode=sequential (p50 0.3")
    assert "next onnx-fp32 threads=4 opt=all mode=sequential ratio 1.3" in sweep


def test_across_results_the_comparison_is_unpaired():
    pi4 = minor2("resnet8", [measured_run("onnx-int8", p50=1.10, seed=10, drift=drift(5))], device="pi4")
    rows, _ = _rows(SEPARATED, pi4)
    text = render.markdown(rows)
    assert "### Across results" in text and "unpaired: the two were not measured interleaved" in text
    line = next(line for line in text.splitlines() if line.startswith("- resnet8 onnx-int8 across results"))
    assert "pi5 (r0.json) is fastest: the runner-up pi4 (r1.json) is slower, ratio 2.5" in line
    assert line.endswith("(unpaired)")


def test_unpaired_interval_is_reproducible_and_covers_the_ratio():
    a = [1.0, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.0, 1.04, 0.96]
    b = [2.0 * v for v in reversed(a)]
    first = unpaired_ratio_ci(a, b)
    assert first == unpaired_ratio_ci(a, b)  # fixed seed
    assert first[0] == pytest.approx(2.0) and first[1] < 2.0 < first[2] and first[2] - first[1] < 0.15
    same = unpaired_ratio_ci(a, list(reversed(a)))
    assert same[1] < 1.0 < same[2] and stats.verdict(same) == "indistinguishable"


def test_the_p50_interval_decides_noisy_not_the_agents_cv():
    noisy = {"verdict": "noisy", "reason": "CV 31 % of the samples (> 25 %)"}
    document = minor2("resnet8", [measured_run("onnx-fp32", p50=0.64, seed=11, noise=0.3, stability=noisy),
                                  measured_run("onnx-int8", p50=0.43, seed=12, noise=0.3)])
    rows, _ = _rows(document)
    flags = {row.label: row.flags for row in rows}
    half_widths = {row.label: row.ci_half_width_pct for row in rows}
    assert half_widths["onnx-fp32"] < 5.0  # 2000 samples in 10 rounds: a tight p50 despite the spread
    assert not any("noisy" in flag or "CV" in flag for flag in flags["onnx-fp32"] + flags["onnx-int8"])


def test_old_results_render_without_intervals():
    old = make_result("resnet8", [make_run("onnx-fp32", p50=0.64, top1=0.912), make_run("onnx-int8", p50=0.43,
                                                                                        top1=0.905)])
    rows, _ = _rows(old)
    assert all(row.p50_ci95 is None and row.rounds_ms == () for row in rows)
    text = render.markdown(rows)
    assert "measured without rounds: no confidence interval" in text
    assert "onnx-int8 has the lowest p50, not tested against onnx-fp32" in text
    assert "is fastest" not in text
    (answer,) = within_budget(rows, 1.0)
    assert "fastest by p50 alone: measured without rounds" in render.describe_answer(answer)
    assert json.loads(render.json_text(rows, [], [answer]))["budget"][0]["fastest_separated"] is None


def test_html_carries_the_ranking_and_the_optional_sections():
    rows, loaded = _rows(SAME)
    page = render_html(rows, [], [], {}, results=loaded)
    assert "<h2>Confidence and ranking</h2>" in page
    verdict = next(line for line in page.splitlines() if "<p class='verdict'>" in line)
    assert "are indistinguishable (ratio onnx-fp32" in verdict and "onnx-fp32#2" in verdict
    assert "settings of" not in page  # a repeated artifact is not a settings sweep


def test_missing_optional_sections_are_skipped_and_present_ones_are_called():
    assert available(("edgebench.report.no_such_section",)) == []
    found = {module.__name__ for module in available()}
    assert found <= set(OPTIONAL_SECTIONS)
    for module in available():
        assert callable(module.markdown) and callable(module.html)
        assert module.markdown([]) == [] and module.html([], None) == ""


def test_sustained_series_reaches_the_report_through_its_section():
    run = measured_run("onnx-fp32", p50=0.64, seed=13)
    series = [{"t": float(t), "n": 1500, "p50_ms": 0.64 if t < 30 else 0.71, "p90_ms": 0.75,
               "temperature_c": 52.0 + t / 4,
               "frequency_mhz": 2400.0 if t < 30 else 1800.0, "throttled": None} for t in range(1, 61)]
    run["sustained"] = {"seconds": 60.0, "interval": 1.0, "series": series, "burst_p50_ms": 0.64,
                        "sustained_p50_ms": 0.71, "slowdown": 1.109, "throttle_onset_s": 30.0,
                        "throttle_reason": "frequency below 95 % of the start's"}
    rows, loaded = _rows(minor2("resnet8", [run]))
    text = render.markdown(rows, results=loaded)
    assert "## Sustained runs" in text
    line = next(line for line in text.splitlines() if line.startswith("| pi5 | resnet8 | onnx-fp32 | 60 |"))
    assert "| 0.640 | 0.710 | 1.109x | 30 s: frequency below 95 % of the start's |" in line
    assert "## Sustained runs" not in render.markdown(rows)  # without the results, only row-based sections
    page = render_html(rows, [], [], {}, results=loaded)
    assert "<h2 id='sustained'>Sustained runs</h2>" in page and "data:image/png;base64," in page


def test_sensitivity_record_reaches_the_report_through_its_section():
    run = measured_run("onnx-int8", p50=0.43, seed=14, file_bytes=2**18)
    run["quantization"] = {"mixed_precision": {
        "max_drop_pp": 1.0, "metric": "top-1 accuracy on the eval set against the fp32 artifact",
        "sensitivity_method": "top-1 drop with that layer alone in int8",
        "full_int8": {"accuracy": 0.871, "drop_pp": 4.2},
        "chosen": {"accuracy": 0.905, "drop_pp": 0.6, "float_layers": ["/layer1/conv1/Conv"],
                   "float_layers_torch": ["layer1.conv1"], "float_fraction": 0.125, "quantizable_layers": 8},
        "calibration": {"method": "percentile", "per_channel": True, "config": "u8s8-rr"},
        "calibration_search": [], "weights_only": None, "search_seconds": 12.3, "status": "mixed",
        "sensitivity": [{"layer": "/layer1/conv1/Conv", "torch_layer": "layer1.conv1", "op_type": "Conv",
                         "score": 3.1},
                        {"layer": "/fc/Gemm", "torch_layer": "fc", "op_type": "Gemm", "score": 0.4}]}}
    rows, loaded = _rows(minor2("resnet8", [run]))
    text = render.markdown(rows, results=loaded)
    assert "## Int8 sensitivity and mixed precision" in text
    assert ("- resnet8 onnx-int8, most sensitive: /layer1/conv1/Conv (layer1.conv1) 3.1 (float); /fc/Gemm (fc) 0.4"
            in text)


def test_profile_reaches_the_report_through_its_section():
    run = measured_run("onnx-int8", p50=0.43, seed=15, file_bytes=2**18)
    run["profile"] = {"available": True, "tool": "onnxruntime profiler", "runs": 50, "total_ms": 0.41,
                      "nodes": [{"node": "/layer1/conv1/Conv_quant", "op_type": "QLinearConv", "layer": "layer1.conv1",
                                 "ms": 0.2, "share": 0.49},
                                {"node": "/fc/Gemm", "op_type": "Gemm", "layer": "fc", "ms": 0.05, "share": 0.12}],
                      "op_types": [{"op_type": "QLinearConv", "ms": 0.2, "share": 0.49, "count": 7}],
                      "quantize_share": 0.18, "float_share": 0.2, "int8_share": 0.62}
    rows, loaded = _rows(minor2("resnet8", [run]))
    text = render.markdown(rows, results=loaded)
    assert "## Per-layer profile" in text
    assert "| pi5 | resnet8 | onnx-int8 | 0.410 | 18 % | 20 % | 62 % |" in text


def test_across_results_a_modest_difference_is_not_a_verdict():
    """Separate runs drift apart by more than their own rounds show: 1.3x between results is not called."""
    pi4 = minor2("resnet8", [measured_run("onnx-int8", p50=0.56, seed=16, drift=drift(6))], device="pi4")
    rows, _ = _rows(SEPARATED, pi4)
    line = next(line for line in render.markdown(rows).splitlines()
                if line.startswith("- resnet8 onnx-int8 across results"))
    assert "pi5 (r0.json) and pi4 (r1.json) are indistinguishable (ratio pi4 (r1.json)/pi5 (r0.json) 1.2" in line
    assert line.endswith("unpaired)")


def test_the_report_command_prints_the_ranking(tmp_path):
    from click.testing import CliRunner

    from edgebench.cli import cli

    (tmp_path / "same.json").write_text(json.dumps(SAME))
    (tmp_path / "separated.json").write_text(json.dumps(SEPARATED))
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "same.json"), str(tmp_path / "separated.json"),
                                      "--max-drop", "1", "--json", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    assert "## Confidence and ranking" in result.output
    assert "- onnx-int8 is fastest: the runner-up onnx-fp32 is slower, ratio 1.4" in result.output
    assert "are indistinguishable (ratio onnx-fp32" in result.output
    written = json.loads((tmp_path / "out.json").read_text())
    assert sorted(entry["separated"] for entry in written["comparisons"]) == [False, True]


def test_every_optional_section_is_in_this_tree():
    assert {module.__name__ for module in available()} == set(OPTIONAL_SECTIONS)


def test_cold_start_reaches_the_report_through_its_section():
    run = measured_run("onnx-fp32", p50=0.64, seed=15)
    run["cold_start_ms"] = {"process_start_to_first_result": 270.3, "import": 37.3, "load": 10.68,
                            "first_inference": 1.286}
    older = measured_run("onnx-int8", p50=0.3, seed=16)  # no cold start recorded: left out of the section
    rows, loaded = _rows(minor2("resnet8", [run, older]))
    text = render.markdown(rows, results=loaded)
    lines = text.splitlines()
    start = lines.index("## Cold start")
    table = [line for line in lines[start:] if line.startswith("| pi5 |")]
    assert table == [f"| pi5 | resnet8 | onnx-fp32 | 270.3 | 37.3 | 10.7 | 1.286 | {run['latency_ms']['p50']:.3f} |"]
    page = render_html(rows, [], [], {}, results=loaded)
    assert "<h2 id='cold-start'>Cold start</h2>" in page and "<td class='text'>270.3</td>" in page
