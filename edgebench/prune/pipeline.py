"""checkpoint -> prune step by step, fine-tuning after each -> one checkpoint per iteration + a summary."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional

from edgebench.data import limit, load_split, resize_images
from edgebench.errors import EdgebenchError
from edgebench.fileio import atomic_dir, check_replaceable, write_json
from edgebench.models.stats import model_stats
from edgebench.progress import Progress, through
from edgebench.prune.importance import IMPORTANCES
from edgebench.prune.methods import PRUNERS, summary
from edgebench.prune.spec import PruneSpec
from edgebench.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from edgebench.train.recipe import TrainSpec
from edgebench.train.trainer import accumulate_gradients, evaluate, train

SUMMARY_FILE = "pruning.json"


def is_prune_output(folder: Path) -> bool:
    """A folder an earlier `edgebench prune` wrote: its summary names the run's checkpoints inside it."""
    try:
        summary = json.loads((Path(folder) / SUMMARY_FILE).read_text())
        return isinstance(summary, dict) and isinstance(summary.get("iterations"), list) and "spec" in summary
    except (OSError, ValueError):
        return False


def prune_checkpoint(checkpoint_path: str, data: Optional[str], spec: PruneSpec, out: Path,
                     log: Callable[[str], None] = print, *, overwrite: bool = False,
                     progress: Optional[Progress] = None) -> List[Dict]:
    """The whole run is built in a hidden sibling of `out` and moved into place at the end: an interrupted run
    leaves nothing, and an existing `out` is replaced only with `overwrite` when an earlier prune wrote it.
    Each stage's seconds are printed through `progress` (default: as lines on `log`) and recorded in the
    summary's `stage_times`; fine-tuning epochs show its bars."""
    out = Path(out).absolute()
    check_replaceable(out, overwrite=overwrite, owned=is_prune_output)
    progress = progress if progress is not None else through(log)
    with atomic_dir(out, overwrite=overwrite, owned=is_prune_output) as work:
        rows = _prune(checkpoint_path, data, spec, work, out, log, progress)
    return rows


def _prune(checkpoint_path: str, data: Optional[str], spec: PruneSpec, work: Path, out: Path,
           log: Callable[[str], None], progress: Progress) -> List[Dict]:
    import torch  # torch: heavy, loaded only when this runs

    with progress.stage("checkpoint and data"):
        base = load_checkpoint(checkpoint_path)
        data_ref = data or base.dataset.get("source")
        if not data_ref:
            raise EdgebenchError("the checkpoint does not name its data set: pass --data")
        size, channels = tuple(base.preprocess.input_size), base.preprocess.channels
        train_set = resize_images(limit(load_split(data_ref, "train"), spec.train_limit, spec.seed), size, channels)
        test_set = resize_images(load_split(data_ref, "test"), size, channels)
    torch.manual_seed(spec.seed)
    model = base.build_model()
    example = torch.zeros(1, channels, *size)
    importance = IMPORTANCES.get(spec.importance)()
    pruner = PRUNERS.get(spec.method)(model, example, len(base.class_names), importance)
    with progress.stage("baseline evaluation"):
        rows = [_row(0, Path(checkpoint_path).resolve(), {"requested": 0.0, "achieved": 0.0, "conv_sparsity": 0.0},
                     model_stats(model, tuple(example.shape)), _evaluate(model, test_set, base))]
    log(f"pruning {base.model_name} ({spec.method}, {spec.importance} importance); baseline accuracy "
        f"{100 * rows[0]['accuracy']:.2f} %")
    run = _Run(base=base, spec=spec, pruner=pruner, importance=importance, train_set=train_set,
               test_set=test_set, example=example, work=work, out=out, log=log, progress=progress)
    for iteration, level in enumerate(spec.schedule(), start=1):
        rows.append(run.iteration(model, iteration, level))
    write_json(work / SUMMARY_FILE, {"model": base.model_name, "spec": spec.as_dict(), "data": data_ref,
                                    "iterations": rows, "stage_times": progress.records()})
    return rows


@dataclass(frozen=True, kw_only=True)
class _Run:
    """What every iteration of one pruning run shares."""
    base: Checkpoint
    spec: PruneSpec
    pruner: object
    importance: object
    train_set: object
    test_set: object
    example: object
    work: Path
    out: Path
    log: Callable[[str], None]
    progress: Progress

    def iteration(self, model, iteration: int, level: float) -> Dict:
        """Prune to `level`, fine-tune, save the checkpoint; its row (each step a stage, printed before the
        "iteration N:" line that says the iteration's checkpoint is written)."""
        base, spec, progress = self.base, self.spec, self.progress
        with progress.stage(f"prune step {iteration} (to {100 * level:.1f} %)"):
            if self.importance.needs_gradients:
                accumulate_gradients(model, self.train_set, base.preprocess)
            self.pruner.step(level)
        with progress.stage(f"fine-tune {iteration}"):
            accuracy = _finetune(model, self.train_set, self.test_set, base, spec,
                                 progress if progress.uses_bars else None)  # plain: the stage line says enough
        with progress.stage(f"save {iteration}"):
            plain = self.pruner.export_copy().eval()
            facts = summary(spec.method, spec.importance, level, self.pruner.achieved(), plain)
            stats = model_stats(plain, tuple(self.example.shape))
            name = f"{base.model_name}-{spec.label}-{iteration:02d}.pt"
            save_checkpoint(self.work / name, _pruned_checkpoint(base, plain, accuracy, facts, spec, iteration,
                                                                 self.pruner.checkpoint_extra(plain)))
        self.log(f"iteration {iteration}: {spec.label} {100 * facts['achieved']:.1f} % (requested "
                 f"{100 * level:.1f} %), {stats.params:,} params, {stats.macs / 1e6:.2f} MMACs, "
                 f"accuracy {100 * accuracy:.2f} %  ->  {self.out / name}")
        return _row(iteration, self.out / name, facts, stats, accuracy)  # where it will be once complete


def _row(iteration: int, path: Path, facts: Dict, stats, accuracy: float) -> Dict:
    return {"iteration": iteration, "file": str(path), **{k: facts[k] for k in ("requested", "achieved",
                                                                               "conv_sparsity")},
            "params": stats.params, "macs": stats.macs, "accuracy": round(accuracy, 5)}


def _evaluate(model, test_set, base: Checkpoint) -> float:
    return evaluate(model, test_set, base.preprocess)


def _finetune(model, train_set, test_set, base: Checkpoint, spec: PruneSpec,
              progress: Optional[Progress] = None) -> float:
    """Fine-tune after a step (when asked; the epochs are `progress`'s bars) and return the test accuracy."""
    if spec.finetune_epochs > 0:
        finetune = TrainSpec(epochs=spec.finetune_epochs, batch_size=spec.batch_size, schedule="plateau", lr=spec.lr,
                             momentum=spec.momentum, weight_decay=spec.weight_decay,
                             augment=tuple(base.train.get("augment", ("crop", "flip"))), seed=spec.seed)
        train(model, train_set, test_set, base.preprocess, finetune, log=lambda line: None, show_progress=False,
              progress=progress)
    return _evaluate(model, test_set, base)


def _pruned_checkpoint(base: Checkpoint, model, accuracy: float, facts: Dict, spec: PruneSpec, iteration: int,
                       method_extra: Dict) -> Checkpoint:
    inherited = {key: value for key, value in base.extra.items() if key != "stage_times"}  # the parent's training
    extra = {**inherited, **method_extra, "pruning": {**facts, "iteration": iteration, "spec": spec.as_dict(),
                                                      "parent_accuracy": base.accuracy}}
    return replace(base, state_dict={k: v.detach().clone() for k, v in model.state_dict().items()},
                   accuracy=accuracy, extra=extra)


def read_summary(folder: Path) -> Dict:
    path = Path(folder) / SUMMARY_FILE
    if not path.is_file():
        raise EdgebenchError(f"{folder} holds no {SUMMARY_FILE}: run `edgebench prune` with --out {folder} first")
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EdgebenchError(f"{path} is not valid JSON ({exc}): run `edgebench prune` again") from None
    if not is_prune_output(folder) or not all(isinstance(row, dict) and {"iteration", "file"} <= set(row)
                                              for row in summary["iterations"]):
        raise EdgebenchError(f"{path} is not a pruning summary edgebench wrote (needs model, spec, data and "
                             "iterations with iteration and file): run `edgebench prune` again")
    for key in ("model", "data"):
        if not isinstance(summary.get(key), str):
            raise EdgebenchError(f"{path} has no '{key}' string: run `edgebench prune` again")
    return summary
