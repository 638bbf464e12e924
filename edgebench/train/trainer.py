"""The training loop: in-memory tensors, batch augmentation, the recipe's schedule, a progress bar."""

from __future__ import annotations

import io
import math
import pickle
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np

from edgebench.data.imageset import ImageSet
from edgebench.data.preprocess import Preprocess
from edgebench.errors import EdgebenchError
from edgebench.fileio import write_bytes
from edgebench.progress import Progress
from edgebench.train.recipe import TrainSpec
from edgebench.train.schedule import TrainSchedule


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    accuracy: float
    history: tuple
    seconds: float


def _to_tensor(imageset: ImageSet, device):
    import torch  # torch: heavy, loaded only when this runs

    # uint8 NCHW on the device; augmentation and normalisation happen per batch.
    return (torch.from_numpy(np.ascontiguousarray(imageset.images.transpose(0, 3, 1, 2))).to(device),
            torch.from_numpy(imageset.labels).to(device))


def _normaliser(preprocess: Preprocess, device):
    import torch  # torch: heavy, loaded only when this runs

    mean = torch.tensor(preprocess.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(preprocess.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    scale = float(preprocess.scale)
    return lambda batch: (batch.float() / scale - mean) / std


def augment_batch(batch, spec: TrainSpec, generator):
    """RandomCrop with zero padding and horizontal flip, on a uint8 NCHW batch (zero = black, as torchvision)."""
    import torch  # torch: heavy, loaded only when this runs
    import torch.nn.functional as F  # torch: heavy, loaded only when this runs

    if "crop" in spec.augment and spec.crop_padding > 0:
        pad = spec.crop_padding
        height, width = batch.shape[-2:]
        padded = F.pad(batch, (pad, pad, pad, pad))
        offsets = torch.randint(0, 2 * pad + 1, (batch.shape[0], 2), generator=generator)
        batch = torch.stack([padded[i, :, dy:dy + height, dx:dx + width]
                             for i, (dy, dx) in enumerate(offsets.tolist())])
    if "flip" in spec.augment:
        flip = torch.rand(batch.shape[0], generator=generator) < 0.5
        batch = torch.where(flip.view(-1, 1, 1, 1).to(batch.device), batch.flip(-1), batch)
    return batch


def evaluate(model, imageset: ImageSet, preprocess: Preprocess, device: str = "cpu", batch_size: int = 256) -> float:
    """Top-1 accuracy in [0, 1]."""
    import torch  # torch: heavy, loaded only when this runs

    images, labels = _to_tensor(imageset, device)
    normalise = _normaliser(preprocess, device)
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            logits = model(normalise(images[start:start + batch_size]))
            correct += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    return correct / max(1, len(labels))


@dataclass(kw_only=True)
class _Loop:
    """What one training run holds across epochs: the data on the device, the optimizer and its schedule."""

    images: object
    labels: object
    normalise: Callable
    optimizer: object
    schedule: TrainSchedule
    generator: object
    steps_per_epoch: int


def _loop(model, train_set: ImageSet, preprocess: Preprocess, spec: TrainSpec) -> _Loop:
    import torch  # torch: heavy, loaded only when this runs

    torch.manual_seed(spec.seed)
    device = torch.device(spec.device)
    model.to(device)
    images, labels = _to_tensor(train_set, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum,
                                weight_decay=spec.weight_decay)
    steps_per_epoch = (len(labels) + spec.batch_size - 1) // spec.batch_size
    return _Loop(images=images, labels=labels, normalise=_normaliser(preprocess, device), optimizer=optimizer,
                 schedule=TrainSchedule(optimizer, spec, steps_per_epoch), steps_per_epoch=steps_per_epoch,
                 generator=torch.Generator().manual_seed(spec.seed))


def _resume(state_path, model, loop: _Loop, spec: TrainSpec, log) -> Tuple[List[dict], float, int]:
    """(history, seconds spent, first epoch to run) of a saved run, or of a fresh one."""
    import torch  # torch: heavy, loaded only when this runs

    if state_path is None or not Path(state_path).exists():
        return [], 0.0, 1
    state = _load_state(state_path, torch.device(spec.device))
    if state.get("spec") != spec.as_dict():
        raise EdgebenchError(f"{state_path} was saved by a run with another recipe; delete it to start over")
    model.load_state_dict(state["model"])
    loop.optimizer.load_state_dict(state["optimizer"])
    loop.schedule.load_state_dict(state)
    loop.generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    log(f"resuming from {state_path} after epoch {state['epoch']}/{spec.epochs}")
    return list(state["history"]), state["seconds"], state["epoch"] + 1


@contextmanager
def _batch_bar(desc: str, total: int, show_progress: Optional[bool],
               progress: Optional[Progress]) -> Iterator[Callable[..., None]]:
    """The epoch's bar: the caller's `progress` when it prints (its bar, or its plain lines when quiet or not on
    a terminal); else a tqdm bar on a terminal (`show_progress` None) or none (False)."""
    if progress is not None and progress.enabled:
        with progress.counter(total=total, desc=desc, unit="batch") as advance:
            yield advance
        return
    from tqdm import tqdm  # tqdm: optional, loaded only when a bar is drawn

    bar = tqdm(total=total, desc=desc, unit="batch", leave=False,
               disable=(not show_progress) if show_progress is not None else None)
    try:
        yield bar.update
    finally:
        bar.close()


def _epoch(model, loop: _Loop, spec: TrainSpec, epoch: int, show_progress: Optional[bool],
           progress: Optional[Progress] = None) -> Tuple[float, int]:
    """One pass over the training images: (summed loss, correct predictions)."""
    import torch  # torch: heavy, loaded only when this runs

    model.train()
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(len(loop.labels), generator=loop.generator).to(loop.labels.device)
    with _batch_bar(f"epoch {epoch}/{spec.epochs}", loop.steps_per_epoch, show_progress, progress) as advance:
        return _batches(model, loop, spec, epoch, order, loss_fn, advance)


def _batches(model, loop: _Loop, spec: TrainSpec, epoch: int, order, loss_fn, advance) -> Tuple[float, int]:
    total_loss, total_correct = 0.0, 0
    for step in range(loop.steps_per_epoch):
        index = order[step * spec.batch_size:(step + 1) * spec.batch_size]
        logits = model(loop.normalise(augment_batch(loop.images[index], spec, loop.generator)))
        loss = loss_fn(logits, loop.labels[index])
        if not math.isfinite(loss.item()):
            raise EdgebenchError(f"training diverged: the loss is {loss.item()} at epoch {epoch}, step "
                                 f"{step + 1}/{loop.steps_per_epoch} (lr {loop.schedule.lr:.3g}); "
                                 "lower --lr; no checkpoint was written")
        loop.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        loop.optimizer.step()
        loop.schedule.step()
        total_loss += loss.item() * len(index)
        total_correct += int((logits.argmax(1) == loop.labels[index]).sum())
        advance()
    return total_loss, total_correct


def train(model, train_set: ImageSet, test_set: ImageSet, preprocess: Preprocess, spec: TrainSpec,
          log: Callable[[str], None] = print, show_progress: Optional[bool] = None,
          state_path: Optional[Path] = None, progress: Optional[Progress] = None) -> TrainResult:
    """Train in place. With `state_path`, the full training state (weights, optimizer, schedule, random
    generators, history) is saved there after every epoch, and a run that finds one continues from it:
    an interrupted run resumes at the next epoch and ends where an uninterrupted one would. Each epoch's bar is
    `progress`'s when it prints, else tqdm's as `show_progress` says."""
    loop = _loop(model, train_set, preprocess, spec)
    history, spent, first_epoch = _resume(state_path, model, loop, spec, log)
    started = time.perf_counter() - spent
    count = len(loop.labels)
    for epoch in range(first_epoch, spec.epochs + 1):
        total_loss, total_correct = _epoch(model, loop, spec, epoch, show_progress, progress)
        train_loss = total_loss / count
        stop = loop.schedule.step(epoch_loss=train_loss)
        test_accuracy = evaluate(model, test_set, preprocess, spec.device)
        history.append({"epoch": epoch, "train_loss": round(train_loss, 5),
                        "train_accuracy": round(total_correct / count, 5),
                        "test_accuracy": round(test_accuracy, 5), "lr": loop.schedule.lr})
        log(f"epoch {epoch}/{spec.epochs}  loss {train_loss:.4f}  train {100 * total_correct / count:.2f} %  "
            f"test {100 * test_accuracy:.2f} %  ({time.perf_counter() - started:.0f} s)")
        if state_path is not None:
            _save_state(state_path, spec, epoch, model, loop.optimizer, loop.schedule, loop.generator, history,
                        time.perf_counter() - started)
        if stop:
            log(f"early stop: train loss has not improved for {loop.schedule.stale} epochs")
            break
    model.eval().to("cpu")
    return TrainResult(accuracy=history[-1]["test_accuracy"], history=tuple(history),
                       seconds=time.perf_counter() - started)


def accumulate_gradients(model, imageset: ImageSet, preprocess: Preprocess, *, images: int = 256,
                         batch_size: int = 64) -> None:
    """Leave in each parameter's `.grad` the cross-entropy gradient summed over the first `images` training
    images (what a gradient-based pruning importance ranks by); the weights are not changed."""
    import torch  # torch: heavy, loaded only when this runs

    device = next(model.parameters()).device
    data, labels = _to_tensor(imageset, device)
    normalise = _normaliser(preprocess, device)
    model.eval()
    model.zero_grad(set_to_none=True)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    for start in range(0, min(images, len(labels)), batch_size):
        stop = min(start + batch_size, images)
        loss_fn(model(normalise(data[start:stop])), labels[start:stop]).backward()


def _load_state(path, device) -> dict:
    import torch  # torch: heavy, loaded only when this runs

    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError,
            AttributeError, ImportError) as exc:
        first = (str(exc).strip().splitlines() or ["unreadable"])[0][:200]
        raise EdgebenchError(f"training state {path} is corrupt ({first}): delete it to start over") from None
    needed = {"spec", "epoch", "model", "optimizer", "generator", "torch_rng", "history", "seconds",
              *TrainSchedule.STATE_KEYS}
    if not isinstance(state, dict) or not needed <= set(state):
        raise EdgebenchError(f"training state {path} is not one edgebench wrote: delete it to start over")
    return state


def _save_state(path, spec: TrainSpec, epoch: int, model, optimizer, schedule: TrainSchedule, generator, history,
                seconds: float) -> None:
    import torch  # torch: heavy, loaded only when this runs


    state = {"spec": spec.as_dict(), "epoch": epoch, "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), **schedule.state_dict(),
             "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "history": history,
             "seconds": seconds}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())
