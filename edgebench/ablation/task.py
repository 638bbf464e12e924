"""One variant of an ablation as a task any executor can run: train (resuming from the last finished epoch),
measure, optionally export, write the variant's record. Its log goes to OUT/logs/NAME.log."""

from __future__ import annotations

import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, Optional

from edgebench.ablation.measure import export_int8, measure
from edgebench.errors import EdgebenchError
from edgebench.fileio import os_errors_named, write_json
from edgebench.models import model_entry
from edgebench.progress import through
from edgebench.train.checkpoint import load_checkpoint
from edgebench.train.pipeline import train_model
from edgebench.train.recipe import AUTO_DEVICE, TrainSpec, resolve_device

SETTINGS_FILE = "ablation-settings.json"


@dataclass(frozen=True, kw_only=True)
class VariantTask:
    name: str
    out: str  # the run's folder: every node must reach it (checkpoints, logs and records live there)
    train: TrainSpec
    data: Optional[str] = None
    export: bool = False


def record_path(out: Path, name: str) -> Path:
    return Path(out) / "variants" / f"{name}.json"


def log_path(out: Path, name: str) -> Path:
    return Path(out) / "logs" / f"{name}.log"


def run_variant(task: VariantTask, *, echo: Optional[Callable[[str], None]] = None) -> Dict:
    """The variant's table row. `echo` also shows the log lines (the local executor passes the console)."""
    out = Path(task.out)
    if not (out / SETTINGS_FILE).is_file():
        raise EdgebenchError(f"{out} is not reachable from {socket.gethostname()} (no {SETTINGS_FILE} there): give "
                             "--out a folder every node mounts")
    path = log_path(out, task.name)
    with os_errors_named(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        def log(line: str) -> None:
            handle.write(line + "\n")
            handle.flush()
            if echo is not None:
                echo("    " + line)

        chain = " > ".join(model_entry(task.name).techniques) or "base architecture"
        log(f"== {task.name} ({chain}) on {socket.gethostname()}")
        row = _train_and_measure(task, out, log)
    write_json(record_path(out, task.name), row)  # last: a variant counts as done only with everything measured
    return row


def _train_and_measure(task: VariantTask, out: Path, log: Callable[[str], None]) -> Dict:
    """The variant's row, with its own `stage_times` (training, measuring, exporting), each printed on `log`."""
    progress = through(log)
    train = task.train
    if train.device == AUTO_DEVICE:  # resolved where the task runs: the node's own CUDA, if any
        train = replace(train, device=resolve_device(AUTO_DEVICE, allow_auto=True))
    path = out / "checkpoints" / f"{task.name}.pt"
    with os_errors_named(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():  # trained, but interrupted before its row was written
        checkpoint = load_checkpoint(path)
        log(f"trained earlier: {path}")
    else:  # resumable: a rerun (Ctrl-C, a lost worker or node) continues after the last finished epoch
        with progress.stage("train"):
            checkpoint = train_model(task.name, task.data, train, path, log=log, resumable=True)
    with progress.stage("measure"):
        row = measure(task.name, checkpoint, checkpoint.extra.get("train_seconds", 0.0))
    if task.export:
        with progress.stage("export (fp32 + int8 ONNX)"):
            row.update(export_int8(task.name, path, out / "bundles" / task.name, task.data, log))
    return {**row, "stage_times": progress.records()}
