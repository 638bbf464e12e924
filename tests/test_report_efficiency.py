"""Efficiency against the device's peak: the arithmetic on hand-written results, the bound verdict, a failed probe
costing its column only, and a real probe timed by the agent in its own process (ONNX Runtime)."""

from __future__ import annotations

import hashlib

import pytest

from device_agent.probes import measure_probe, measure_probes
from edgebench.report import efficiency
from edgebench.report.load import LoadedResult
from tests.test_report_units import make_result, make_run


def _document(probes):
    document = make_result("resnet8", [make_run("onnx-fp32", p50=2.0), make_run("onnx-int8", p50=1.6),
                                       make_run("tflite-int8", p50=1.0)], device="pi5")
    document["bundle"]["model"]["macs"] = 40_000_000
    for run, (fmt, precision) in zip(document["runs"], (("onnx", "fp32"), ("onnx", "int8"), ("tflite", "int8"))):
        run["format"], run["precision"] = fmt, precision
    document["device"]["probes"] = probes
    return LoadedResult(path=None, document=document)


PROBES = [{"name": "onnx-fp32", "format": "onnx", "precision": "fp32", "macs": 115_605_504, "threads": 1,
           "p50_ms": 4.0, "gmacs": 28.9},
          {"name": "onnx-int8", "format": "onnx", "precision": "int8", "macs": 115_605_504, "threads": 1,
           "p50_ms": 2.0, "gmacs": 57.8},
          {"name": "tflite-int8", "format": "tflite", "precision": "int8", "threads": 1,
           "error": "the runtime refused or crashed (exit -11): no message"}]


def test_achieved_gmacs_share_and_bound():
    assert efficiency.achieved_gmacs(40_000_000, 2.0) == pytest.approx(20.0)
    fp32, int8, tflite = efficiency.rows([_document(PROBES)])
    assert fp32.achieved_gmacs == pytest.approx(20.0) and fp32.peak_gmacs == 28.9
    assert fp32.share == pytest.approx(20.0 / 28.9) and fp32.bound == "compute"
    assert int8.achieved_gmacs == pytest.approx(25.0) and int8.share == pytest.approx(25.0 / 57.8)
    assert int8.bound == "compute"  # 43 %: just above the 40 % line
    assert tflite.peak_gmacs is None and tflite.share is None and tflite.bound is None
    assert "exit -11" in tflite.peak_note  # the failed probe costs this column only


def test_the_section_says_each_missing_peak_once_and_names_the_bounds():
    lines = efficiency.markdown([_document(PROBES)])
    text = "\n".join(lines)
    assert lines[0] == "## Efficiency: how far from the device's peak"
    assert "| pi5 | resnet8 | onnx-fp32 threads=1 | 40.0 | 2.000 | 20.00 | 28.9 | 69 % | compute |" in text
    assert "| pi5 | resnet8 | tflite-int8 threads=1 | 40.0 | 1.000 | 40.00 | - | - | - |" in text
    assert text.count("exit -11") == 1
    slow = [dict(p, gmacs=p["gmacs"] * 4) if "gmacs" in p else p for p in PROBES]
    overhead = efficiency.summary(efficiency.rows([_document(slow)]))
    assert overhead == ["Bound by per-op overhead: resnet8 onnx-fp32 (17 %), resnet8 onnx-int8 (11 %)."]
    missed = [dict(p, gmacs=5.0) if "gmacs" in p else p for p in PROBES]  # 20 GMAC/s models, a 5 GMAC/s probe
    entry = efficiency.rows([_document(missed)])[0]
    assert entry.share is None and entry.bound is None
    assert "not the device's peak" in "\n".join(efficiency.markdown([_document(missed)]))
    other_threads = [dict(p, threads=2) for p in PROBES]
    assert "measured at 2 threads" in efficiency.rows([_document(other_threads)])[0].peak_note


def test_the_agent_times_a_real_probe_and_a_refused_one_costs_its_entry(tmp_path):
    from edgebench.export.probes import onnx_probe, probe_macs

    (tmp_path / "probes").mkdir()
    onnx_probe(tmp_path / "probes" / "conv.fp32.onnx")
    (tmp_path / "probes" / "bad.onnx").write_bytes(b"not an onnx file")
    sha = {name: hashlib.sha256((tmp_path / "probes" / name).read_bytes()).hexdigest()
           for name in ("conv.fp32.onnx", "bad.onnx")}
    manifest = {"probes": [
        {"name": "onnx-fp32", "format": "onnx", "precision": "fp32", "file": "probes/conv.fp32.onnx",
         "sha256": sha["conv.fp32.onnx"], "macs": probe_macs()},
        {"name": "onnx-int8", "format": "onnx", "precision": "int8", "file": "probes/bad.onnx",
         "sha256": sha["bad.onnx"], "macs": probe_macs()},
        {"name": "tflite-fp32", "format": "tflite", "precision": "fp32", "error": "onnx2tf is not installed"}]}
    lines = []
    good, refused = measure_probes(str(tmp_path), manifest, 1, formats=["onnx"], log=lines.append)
    assert good["gmacs"] == pytest.approx(probe_macs() / (good["min_ms"] / 1000) / 1e9, rel=1e-3)
    assert good["min_ms"] <= good["p50_ms"]
    assert good["gmacs"] > 0.5 and good["runs"] >= 10 and good["threads"] == 1
    assert "gmacs" not in refused and refused["error"].startswith("the runtime refused or crashed (exit 1)")
    assert lines[0].startswith("probe onnx-fp32 (1 thread): ") and "unavailable" in lines[1]
    missing = measure_probe(str(tmp_path), manifest["probes"][2], 1)
    assert missing["error"] == "not built on the host: onnx2tf is not installed"
