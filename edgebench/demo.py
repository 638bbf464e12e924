"""The end-to-end demo on the embedded digits: train -> export (fp32 + int8) -> agent on this machine -> report.

Every stage is the real one; the agent runs in its own process, as it would on a device.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Tuple

from edgebench.devices.local import run_agent_here
from edgebench.errors import EdgebenchError
from edgebench.export.pipeline import export_bundle
from edgebench.export.spec import ExportSpec, Format, Precision, default_formats
from edgebench.fileio import write_text
from edgebench.report import build_rows, load_results, render
from edgebench.train import TrainSpec, train_model


@dataclass(frozen=True, kw_only=True)
class DemoSpec:
    model: str = "resnet8"
    epochs: int = 12
    batch_size: int = 32
    lr: float = 0.05
    augment: tuple = ("crop",)  # digits are not mirror-symmetric: no flip
    threads: int = 1
    out: Path = Path("demo-out")
    formats: Optional[Tuple[str, ...]] = None  # export format names; None: every format this machine can write


def run_demo(spec: DemoSpec, log: Callable[[str], None] = print) -> Path:
    started = time.perf_counter()
    out = spec.out
    checkpoint = out / "checkpoints" / f"{spec.model}.pt"
    bundle = out / "bundles" / spec.model
    results = out / "results"
    log(f"== 1/4 train {spec.model} on the embedded digits ({spec.epochs} epochs)")
    train_model(spec.model, None, TrainSpec.for_schedule("onecycle", epochs=spec.epochs, batch_size=spec.batch_size,
                                                          lr=spec.lr, augment=spec.augment), checkpoint, log=log)
    formats = tuple(Format(name) for name in spec.formats) if spec.formats else default_formats()
    log(f"== 2/4 export fp32 + int8 ({', '.join(f.value for f in formats)}), verified against torch")
    manifest = export_bundle(spec.model, bundle, ExportSpec(precisions=(Precision.FP32, Precision.INT8),
                                                            formats=formats),
                             checkpoint=str(checkpoint), overwrite=True, log=log)
    for entry in manifest.get("rejected", []):  # the export already said why; the demo goes on without it
        log(f"warning: {entry['name']} is not in the bundle: {entry['reason']}")
    log("== 3/4 device agent on this machine")
    results.mkdir(parents=True, exist_ok=True)
    run = run_agent_here(bundle, Path(str(results) + "/"), ["--threads", str(spec.threads), "--device-name", "host"],
                         log)
    if run.code != 0:
        raise EdgebenchError(f"the device agent failed (exit {run.code}): {run.last_line}")
    result_path = Path(run.stdout.strip().splitlines()[-1])
    log("== 4/4 report")
    rows, failures = build_rows(load_results([str(result_path)]))
    log(render.terminal(rows, failures))
    report_path = out / "report.md"
    write_text(report_path, render.markdown(rows, failures))
    log(f"\ndemo finished in {time.perf_counter() - started:.0f} s: checkpoint {checkpoint}, bundle {bundle}, "
        f"result {result_path}, report {report_path}")
    return report_path
