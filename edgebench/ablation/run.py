"""Train, measure and tabulate each variant; a finished variant is never retrained, an interrupted one
continues from its last finished epoch."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional

from edgebench.ablation.spec import AblationSpec
from edgebench.ablation.table import AblationTable, build_table, csv_text, markdown, plot
from edgebench.ablation.task import SETTINGS_FILE, VariantTask, log_path, record_path, run_variant
from edgebench.errors import EdgebenchError
from edgebench.executor import make_executor
from edgebench.executor.display import follow
from edgebench.executor.outcome import stop_on_write_failure
from edgebench.fileio import os_errors_named, write_bytes, write_json, write_text
from edgebench.progress import Progress, through

# Recipe fields that may change between a run and its resumption without invalidating what is done.
_FREE = {"device"}


def _settings(spec: AblationSpec) -> Dict:
    recipe = {k: v for k, v in spec.train.as_dict().items() if k not in _FREE}
    return {"arch": spec.arch, "data": spec.data, "train": recipe, "export": spec.export}


def _read_json(path: Path, what: str) -> Dict:
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EdgebenchError(f"{path} is not valid JSON ({exc}); delete it to redo that {what}") from None
    if not isinstance(document, dict):
        raise EdgebenchError(f"{path} holds a {type(document).__name__}, not an object; delete it to redo that "
                             f"{what}")
    return document


def check_output_folder(out: Path) -> None:
    """An ablation writes into a new or empty folder, or continues one that an ablation run started; it adds
    files and never deletes any, so the current folder is allowed too."""
    if out.is_symlink() and not out.exists() or out.exists() and not out.is_dir():
        raise EdgebenchError(f"{out} exists and is not a folder: choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not (out / SETTINGS_FILE).is_file():
        raise EdgebenchError(f"{out.absolute()} exists and was not created by edgebench: it is never replaced; "
                             "choose another output folder")


def _check_settings(out: Path, spec: AblationSpec) -> None:
    path = out / SETTINGS_FILE
    settings = _settings(spec)
    if path.exists():
        before = _read_json(path, "whole run")
        if before != settings:
            changed = _first_difference(before, settings)
            raise EdgebenchError(f"{out} holds an ablation run with other settings ({changed}): pass another --out "
                                 "or repeat the earlier options")
    else:
        write_json(path, settings)


def _first_difference(before: Dict, now: Dict) -> str:
    for key in sorted(set(before) | set(now)):
        if key == "train":
            for field in sorted(set(before["train"]) | set(now["train"])):
                if before["train"].get(field) != now["train"].get(field):
                    return f"{field} {before['train'].get(field)} then, {now['train'].get(field)} now"
        elif before.get(key) != now.get(key):
            return f"{key} {before.get(key)} then, {now.get(key)} now"
    return "unknown"


def run_ablation(spec: AblationSpec, out: Path, *, log: Callable[[str], None] = print,
                 executor: str = "local", progress: Optional[Progress] = None) -> AblationTable:
    """Every variant not yet done is one task on `executor` ('local', 'process:N', 'ray[:ADDRESS]'); a
    variant that fails is named after the others finish. Each finished variant is one status line on `log`
    (done, running, where, time left); each variant's own log is OUT/logs/NAME.log. This run's stages are
    printed with their seconds through `progress` (default: as lines on `log`) and recorded in ablation.json's
    `stage_times`; each variant's own (training, measuring, exporting) in its row's."""
    progress = progress if progress is not None else through(log)
    out = Path(out)
    check_output_folder(out)
    with os_errors_named(out):
        out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, spec)
    done = _done_earlier(spec, out, log)
    todo = [name for name in spec.variants if name not in done]
    if todo:
        with progress.stage(f"variants ({len(todo)} to train)"):
            done.update(_run_variants(spec, out, todo, executor, log, progress))
    measured = [done[name] for name in spec.variants]
    with progress.stage("table and plots"):
        table = build_table(spec.arch, measured, spec.baseline_name, spec.max_drop)
        _write_table(spec, out, table, measured)
    write_json(out / "ablation.json", {**table.as_dict(), "settings": _settings(spec),
                                       "stage_times": progress.records()})
    return table


def _done_earlier(spec: AblationSpec, out: Path, log: Callable[[str], None]) -> Dict[str, Dict]:
    """Records of variants finished by an earlier run, all checked before any work starts."""
    done: Dict[str, Dict] = {}
    for number, name in enumerate(spec.variants, 1):
        record = record_path(out, name)
        if record.exists():
            row = _read_json(record, "variant")
            if not isinstance(row.get("accuracy"), (int, float)):
                raise EdgebenchError(f"{record} has no accuracy; delete it to redo that variant")
            log(f"[{number}/{len(spec.variants)}] {name}: done earlier ({row['accuracy']} %), kept")
            done[name] = row
    return done


def _run_variants(spec: AblationSpec, out: Path, todo: List[str], executor: str,
                  log: Callable[[str], None], progress: Progress) -> Dict[str, Dict]:
    # Absolute paths: a worker on another node, or a Ray worker, does not start in this folder.
    data = str(Path(spec.data).absolute()) if spec.data and Path(spec.data).exists() else spec.data
    tasks = [VariantTask(name=name, out=str(out.absolute()), train=spec.train, data=data, export=spec.export)
             for name in todo]
    gpus = 1 if spec.train.device.startswith("cuda") else 0  # a whole GPU per variant
    rows, failed = {}, []
    with make_executor(executor) as runner, progress.counter(total=len(todo), desc="variants", unit="variant") \
            as advance:
        # In this process, the variant's log lines also reach the console as they come (today's behaviour).
        task_fn = partial(run_variant, echo=log) if runner.name == "local" else run_variant
        log(f"{len(todo)} variants to train on {runner.describe()}; logs in {out / 'logs'}")
        for outcome in follow(runner.map(task_fn, tasks, names=todo, cpus=1, gpus=gpus), total=len(todo),
                              slots=runner.slots, note=log, what="variant"):
            advance()
            if stop_on_write_failure(outcome).ok:  # a full disk stops the sweep: every variant would fail so
                rows[outcome.name] = outcome.value
            else:
                failed.append(f"{outcome.name}: {outcome.error}")
                if outcome.detail:
                    _append(log_path(out, outcome.name), outcome.detail)
    if failed:
        raise EdgebenchError(f"{len(failed)} of {len(todo)} variants failed ({'; '.join(failed)}); the others are "
                             f"kept in {out}, logs in {out / 'logs'}; the same command retries the failed ones")
    return rows


def _append(path: Path, text: str) -> None:
    with os_errors_named(path), open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def _write_table(spec: AblationSpec, out: Path, table: AblationTable, measured: List[Dict]) -> None:
    note = (f"{spec.train.epochs} epochs ({spec.train.schedule}), batch {spec.train.batch_size}, "
            f"data {measured[0]['train_images']} train / {measured[0]['test_images']} test images "
            f"({spec.data or 'embedded digits'}), {measured[0]['classes']} classes; size = weights as saved by torch; "
            "FLOPs = fvcore (one multiply-add = one FLOP, BatchNorm counted).")
    write_text(out / "ablation.md", markdown(table, note))
    write_text(out / "ablation.csv", csv_text(table))
    write_bytes(out / "ablation.png", plot(table))  # ablation.json last, with the stage times
