"""The contract table (`device_agent/formats.py`) is the one place a format is named: host, agent, schemas and
bench read it; a new format is a row, a writer, a backend and nothing else."""

import filecmp
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from device_agent import formats as contract
from device_agent.backends.base import BACKENDS, FORMAT_BACKENDS, create_backend
from device_agent.configs import Sweep
from device_agent.device_info import DISTRIBUTIONS, RUNTIME_MODULES
from device_agent.schema import SCHEMA_FOLDER, load_schema
from edgebench.devices import bench
from edgebench.export.spec import FORMATS, WRITERS, Format, Layout, Precision
from edgebench.report.table import FORMAT_PREFERENCE
from tests.badinput.test_agent_bundle import pool_classifier_onnx
from tests.conftest import ROOT


def _enums_at(schema, key):
    """Every enum that a property named `key` resolves to, $refs followed."""
    found = []

    def walk(node, definitions=False):
        if isinstance(node, dict):
            for name, value in node.items():
                if name == key and isinstance(value, dict) and not definitions:
                    target = value
                    if "$ref" in target:
                        target = schema
                        for part in value["$ref"].lstrip("#/").split("/"):
                            target = target[part]
                    found.append(target.get("enum"))
                walk(value, definitions=name == "$defs")
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return found


def test_schema_format_enums_are_the_table():
    manifest, result = load_schema("manifest"), load_schema("result")
    # every enum a `format` resolves to (the artifacts' and the rejected ones'; probes name theirs freely)
    assert [e for e in _enums_at(manifest, "format") if e] == [["onnx", "tflite"]] * 2 == [list(contract.FORMATS)] * 2
    assert _enums_at(result, "format") == [[*contract.FORMATS, "unknown"]]
    precisions = sorted({p for row in contract.FORMATS.values() for p in row.precisions})
    assert [sorted(e) for e in _enums_at(manifest, "precision") if e] == [precisions, precisions]
    assert sorted(p.value for p in Precision) == precisions
    assert sorted(layout.value for layout in Layout) == sorted({x for r in contract.FORMATS.values() for x in r.layouts})


def test_schema_files_name_no_format():
    """The files leave the format list to the table: a new format edits neither of them."""
    for name in ("manifest", "result"):
        on_disk = json.loads((Path(SCHEMA_FOLDER) / f"{name}.schema.json").read_text())
        assert set(map(str, _enums_at(on_disk, "format"))) == {"None"}
        assert '"tflite"' not in json.dumps(on_disk)


def test_host_and_agent_tables_derive_from_the_contract():
    assert [f.value for f in Format] == list(contract.FORMATS) == list(FORMAT_PREFERENCE) == list(WRITERS)
    for fmt in Format:
        row = contract.FORMATS[fmt.value]
        assert FORMATS[fmt].suffix == row.suffix and [p.value for p in FORMATS[fmt].precisions] == list(row.precisions)
        assert FORMAT_BACKENDS[fmt.value] == row.runtime and BACKENDS[row.runtime] == contract.RUNTIMES[row.runtime].backend
        assert bench.RUNTIMES[fmt.value][0] == contract.runtime_of(fmt.value).modules[0]
    assert set(BACKENDS) == {*contract.RUNTIMES, "null"}
    assert RUNTIME_MODULES == ("numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime", "psutil")
    assert DISTRIBUTIONS["tflite_runtime"] == ("tflite-runtime",)
    assert '["numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime", "tensorflow", "psutil"]' in bench.PROBE
    assert create_backend("onnxruntime").name == "onnxruntime"


def test_sweep_options_follow_each_runtime():
    sweep = Sweep(threads=(1, 2), xnnpack=(True, False), ort_graph_optimization=("basic", "all"))
    assert len(sweep.settings_for("onnx")) == 4 and len(sweep.settings_for("tflite")) == 4
    assert {s.xnnpack for s in sweep.settings_for("onnx")} == {None}
    assert {s.ort_graph_optimization for s in sweep.settings_for("tflite")} == {None}
    assert [s.threads for s in sweep.settings_for("elsewhere")] == [1, 2]
    assert sweep.settings_for("tflite")[1].backend_options("tflite") == {"xnnpack": False}
    assert sweep.settings_for("onnx")[0].backend_options("onnxruntime") == {"graph_optimization": "basic",
                                                                            "execution_mode": "sequential"}
    assert sweep.settings_for("onnx")[0].backend_options("null") == {}


# A new format, added the way docs/architecture.md says: ONNX under another suffix, run by a backend of its own.
NEW_ROWS = '''
RUNTIMES["onnxbin"] = Runtime(
    name="onnxbin", backend="device_agent.backends.onnxbin_backend:OnnxBinBackend", modules=("onnxruntime",),
    distributions=(), install="pip install onnxruntime", options=RUNTIMES["onnxruntime"].options,
    profiler=RUNTIMES["onnxruntime"].profiler)
FORMATS["onnxbin"] = FormatRow(name="onnxbin", suffix=".onnxbin", precisions=("fp32",), layouts=("NCHW",),
                               runtime="onnxbin", graph="onnx")
'''
NEW_WRITER_ENTRY = '''
WRITERS["onnxbin"] = Writer(path="edgebench.export.writers.onnxbin:OnnxBinWriter", extra="host")
'''
NEW_WRITER = '''"""The fp32 ONNX graph, shipped under another suffix."""

import shutil

from edgebench.export.onnx_float import onnx_io
from edgebench.export.verify import onnx_logits
from edgebench.export.writers.base import Written


class OnnxBinWriter:
    def __init__(self, context, work, log):
        self.context = context

    def write(self, precision, path):
        shutil.copyfile(self.context.fp32_onnx, path)
        model_input, model_output = onnx_io(path)
        return Written(input={**model_input, "layout": "NCHW"}, output=model_output, quantization=None)

    def logits(self, path, inputs_nchw):
        return onnx_logits(path, inputs_nchw)

    def close(self):
        pass
'''
NEW_BACKEND = '''"""ONNX Runtime on a .onnxbin file."""

from device_agent.backends.onnxruntime_backend import OnnxRuntimeBackend


class OnnxBinBackend(OnnxRuntimeBackend):
    name = "onnxbin"
'''


def _tree_digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}


def _add_format(tree: Path) -> None:
    """The four product files of a new format, edited in a copy of the product."""
    with open(tree / "device_agent" / "formats.py", "a") as handle:
        handle.write(NEW_ROWS)
    spec = tree / "edgebench" / "export" / "spec.py"
    anchor = "\n\n@dataclass(frozen=True, kw_only=True)\nclass FormatInfo"
    assert spec.read_text().count(anchor) == 1
    spec.write_text(spec.read_text().replace(anchor, NEW_WRITER_ENTRY + anchor))
    (tree / "edgebench" / "export" / "writers" / "onnxbin.py").write_text(NEW_WRITER)
    (tree / "device_agent" / "backends" / "onnxbin_backend.py").write_text(NEW_BACKEND)


def _product_with_new_format(tmp_path: Path) -> Path:
    tree = tmp_path / "product"
    for package in ("edgebench", "device_agent"):
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    before = _tree_digest(tree)
    _add_format(tree)
    after = _tree_digest(tree)
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    assert changed == ["device_agent/backends/onnxbin_backend.py", "device_agent/formats.py",
                       "edgebench/export/spec.py", "edgebench/export/writers/onnxbin.py"]
    return tree


READ_BACK = """
import json
from device_agent.backends.base import BACKENDS, FORMAT_BACKENDS
from device_agent.configs import Sweep
from device_agent.device_info import RUNTIME_MODULES
from device_agent.schema import load_schema
from edgebench.devices.bench import RUNTIMES
from edgebench.export.spec import FORMATS, Format
from edgebench.report.table import FORMAT_PREFERENCE
fmt = Format("onnxbin")
print(json.dumps({"suffix": FORMATS[fmt].suffix, "writer": FORMATS[fmt].writer, "backend": FORMAT_BACKENDS["onnxbin"],
                  "class": BACKENDS["onnxbin"], "modules": RUNTIMES["onnxbin"], "versions": RUNTIME_MODULES,
                  "settings": len(Sweep(ort_graph_optimization=("basic", "all")).settings_for("onnxbin")),
                  "schema": load_schema("manifest")["$defs"]["format"]["enum"], "report": FORMAT_PREFERENCE}))
"""


def test_a_new_format_reaches_every_table(tmp_path):
    """The fast half: the four files edited, every table on both sides has the new format."""
    tree = _product_with_new_format(tmp_path)
    done = subprocess.run([sys.executable, "-c", READ_BACK], env=dict(os.environ, PYTHONPATH=str(tree)), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert seen == {"suffix": ".onnxbin", "writer": "edgebench.export.writers.onnxbin:OnnxBinWriter",
                    "backend": "onnxbin", "class": "device_agent.backends.onnxbin_backend:OnnxBinBackend",
                    "modules": ["onnxruntime"], "versions": ["numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime",
                                                             "psutil"],
                    "settings": 2, "schema": ["onnx", "tflite", "onnxbin"], "report": ["onnx", "tflite", "onnxbin"]}


@pytest.mark.slow
def test_a_new_format_is_four_files_end_to_end(tmp_path):
    """Export and measure the new format from the edited copy: the bundle and the result carry it."""
    tree = _product_with_new_format(tmp_path)
    pool_classifier_onnx(tmp_path / "pool.onnx", np.random.default_rng(1).normal(size=(3, 10)), size=8)
    env = dict(os.environ, PYTHONPATH=str(tree))
    run = lambda *args: subprocess.run([sys.executable, "-m", *args], env=env, cwd=tmp_path, capture_output=True,
                                       text=True, timeout=240)
    exported = run("edgebench", "export", str(tmp_path / "pool.onnx"), "--format", "onnx,onnxbin", "--out", "b")
    assert exported.returncode == 0, exported.stderr[-2000:]
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    assert set(artifacts) == {"onnx-fp32", "onnxbin-fp32"} and manifest["rejected"] == []
    new = artifacts["onnxbin-fp32"]
    assert new["file"] == "model.fp32.onnxbin" and new["sha256"] == artifacts["onnx-fp32"]["sha256"]
    assert new["check"]["top1_agreement"] == 1.0 and new["check"]["max_abs_diff"] == 0.0
    assert new["layers"] == artifacts["onnx-fp32"]["layers"]  # an ONNX graph: mapped like one
    measured = run("device_agent", "run", "b", "--out", "r.json", "--rounds", "2", "--min-runs", "5",
                   "--min-seconds", "0", "--warmup-runs", "1")
    assert measured.returncode == 0, measured.stderr[-2000:]
    runs = {r["artifact"]: r for r in json.loads((tmp_path / "r.json").read_text())["runs"]}
    assert runs["onnxbin-fp32"]["format"] == "onnxbin" and runs["onnxbin-fp32"]["backend"] == "onnxbin"
    assert runs["onnxbin-fp32"]["error"] is None and runs["onnxbin-fp32"]["setting"]["ort_graph_optimization"] == "all"
    assert runs["onnxbin-fp32"]["accuracy"]["correct"] == runs["onnx-fp32"]["accuracy"]["correct"]
    assert runs["onnxbin-fp32"]["accuracy"]["count"] == 360 and runs["onnxbin-fp32"]["latency_ms"]["p50"] > 0
    assert not filecmp.cmp(tree / "device_agent" / "formats.py", ROOT / "device_agent" / "formats.py", shallow=False)


def test_parse_probe_takes_the_last_line_and_refuses_anything_else():
    answer = '{"python": "3.9.2", "modules": {"numpy": true}}'
    assert bench.parse_probe(f"Welcome to Raspberry Pi OS\n\n{answer}\n", "pi") == {"python": "3.9.2",
                                                                                    "modules": {"numpy": True}}
    for said, shown in (("", "no output"), ("bash: python3: command not found", "bash: python3: command not found"),
                        ('{"python": "3.9.2"}', '{"python": "3.9.2"}'), ("[1, 2]", "[1, 2]")):
        with pytest.raises(bench.EdgebenchError, match=f"^pi: the Python check printed no answer \\({re.escape(shown)}"):
            bench.parse_probe(said, "pi")


def _probe(**present):
    return {"python": "3.9.2", "modules": {name: present.get(name, False) for name in bench.PROBED}}


def test_check_runtimes_by_the_table():
    with pytest.raises(bench.EdgebenchError, match="^pi: numpy is not installed for Python 3.9.2: "
                                                   "pip install numpy onnxruntime$"):
        bench.check_runtimes(_probe(onnxruntime=True), ["onnx"], "pi")
    onnx_only = _probe(numpy=True, onnxruntime=True)
    assert bench.check_runtimes(onnx_only, ["onnx"], "pi") == []
    assert bench.check_runtimes(onnx_only, ["onnx", "tflite"], "pi") == [
        "pi: no runtime for tflite artifacts (pip install ai-edge-litert); they will be reported as failed"]
    with pytest.raises(bench.EdgebenchError, match="^pi: no runtime for tflite is installed: pip install ai-edge-litert$"):
        bench.check_runtimes(onnx_only, ["tflite"], "pi")
    for module in ("ai_edge_litert", "tflite_runtime", "tensorflow"):  # any module the table lists runs TFLite
        assert bench.check_runtimes(_probe(numpy=True, **{module: True}), ["tflite"], "pi") == []
    with pytest.raises(bench.EdgebenchError, match="no runtime for onnx, tflite is installed: pip install onnxruntime; "
                                                   "pip install ai-edge-litert"):
        bench.check_runtimes(_probe(numpy=True, psutil=True), ["onnx", "tflite"], "pi")
