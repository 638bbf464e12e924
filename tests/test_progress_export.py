"""Stage times reach the manifest of a small export, and its log shows each stage with its seconds."""

from __future__ import annotations

from device_agent.schema import validate
from edgebench.export.pipeline import export_bundle
from edgebench.export.spec import ExportSpec, Format, Precision


def test_stage_times_are_in_the_manifest_and_printed(tmp_path):
    lines = []
    manifest = export_bundle("test_vgg", tmp_path / "b", ExportSpec(formats=(Format.ONNX,), eval_size=16,
                                                                   precisions=(Precision.FP32,)),
                             log=lines.append)
    validate(manifest, "manifest", "the exported manifest")
    stages = [(entry["stage"], entry.get("depth", 0)) for entry in manifest["stage_times"]]
    assert stages == [("model and data", 0), ("ONNX export and reference outputs", 0), ("onnx: setup", 0),
                      ("write", 1), ("gate on 16 eval images", 1), ("onnx-fp32", 0),
                      ("probes (device peak GMAC/s)", 0)]
    assert all(entry["seconds"] >= 0 for entry in manifest["stage_times"])
    by_name = {entry["stage"]: entry["seconds"] for entry in manifest["stage_times"]}
    assert by_name["onnx-fp32"] >= by_name["gate on 16 eval images"]
    assert any(line.startswith("onnx-fp32: ") and line.endswith(" s") for line in lines)
    assert any(line.startswith("  gate on 16 eval images: ") for line in lines)
    # The bundle carries the ONNX probes (a large convolution, fp32 and int8) for the device's peak GMAC/s.
    assert [(p["name"], p["macs"]) for p in manifest["probes"]] == [("onnx-fp32", 115_605_504), ("onnx-int8", 115_605_504)]
    assert all((tmp_path / "b" / p["file"]).stat().st_size == p["bytes"] for p in manifest["probes"])
