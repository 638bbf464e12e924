"""A native crash (SIGSEGV, SIGABRT) in a runtime costs only the artifact or the version it hit."""

from __future__ import annotations

import json
import shutil

import pytest

from device_agent.device_info import runtime_versions
from device_agent.schema import validate

from .test_agent_bundle import FAST, agent, bundle, pristine, read_manifest, write_manifest  # noqa: F401


@pytest.fixture
def two_files(bundle):
    """The second artifact in its own file, so that a crash can be aimed at it alone."""
    shutil.copy(bundle / "model.fp32.onnx", bundle / "second.onnx")
    manifest = read_manifest(bundle)
    manifest["artifacts"][1]["file"] = "second.onnx"
    write_manifest(bundle, manifest)
    return bundle


@pytest.mark.parametrize("how, name", [("abort", "SIGABRT"), ("segv", "SIGSEGV")])
def test_a_crashing_artifact_costs_only_itself(two_files, tmp_path, how, name):
    out = tmp_path / "r.json"
    done = agent("run", str(two_files), "--out", str(out), "--backend", "null", *FAST,
                 "--artifacts", "onnx-fp32-again,onnx-fp32", env={"EDGEBENCH_AGENT_NULL_CRASH": f"{how}:second.onnx"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    crashed = f"the measuring process was killed by signal {name} (a native crash in the runtime or the model)"
    assert done.stderr.splitlines() == [f"error: 1 of 2 artifact(s) failed: onnx-fp32-again: {crashed}"]
    result = json.loads(out.read_text())
    validate(result, "result", str(out))
    assert result["complete"] is True and result["error"] is None
    again, first = result["runs"]
    assert again["artifact"] == "onnx-fp32-again" and again["error"] == crashed and again["backend"] == "null"
    assert first["error"] is None and first["latency_ms"]["n"] >= 3


def test_every_artifact_crashing_still_gives_a_result(bundle, tmp_path):
    out = tmp_path / "r.json"
    done = agent("run", str(bundle), "--out", str(out), "--backend", "null", *FAST,
                 env={"EDGEBENCH_AGENT_NULL_CRASH": "abort"})
    assert done.returncode == 1
    runs = json.loads(out.read_text())["runs"]
    assert [r["error"].split(" (")[0] for r in runs] == ["the measuring process was killed by signal SIGABRT"] * 2


def test_version_probes_survive_a_crashing_and_a_hanging_import(tmp_path, monkeypatch):
    (tmp_path / "crashes_on_import.py").write_text("import ctypes\nctypes.string_at(0)\n")
    (tmp_path / "aborts_on_import.py").write_text("import os\nos.abort()\n")
    (tmp_path / "hangs_on_import.py").write_text("import time\ntime.sleep(60)\n")
    (tmp_path / "imports_fine.py").write_text("__version__ = '1.2.3'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    unavailable = {}
    versions = runtime_versions(unavailable, modules=("crashes_on_import", "aborts_on_import", "hangs_on_import",
                                                      "imports_fine", "not_installed_anywhere"), timeout=5)
    assert versions == {"python": versions["python"], "crashes_on_import": None, "aborts_on_import": None,
                        "hangs_on_import": None, "imports_fine": "1.2.3", "not_installed_anywhere": None}
    assert unavailable == {
        "versions.crashes_on_import": "importing crashes_on_import failed: was killed by signal SIGSEGV",
        "versions.aborts_on_import": "importing aborts_on_import failed: was killed by signal SIGABRT",
        "versions.hangs_on_import": "importing hangs_on_import failed: gave no answer within 5 s (stopped)",
    }
