"""data -> model -> train -> checkpoint, the body of `edgebench train`."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from edgebench.data import Preprocess, class_count, fit_normalisation, limit, load_split, resize_images
from edgebench.errors import EdgebenchError
from edgebench.fileio import check_writable
from edgebench.models import create_model, model_entry
from edgebench.progress import Progress, through
from edgebench.train.checkpoint import Checkpoint, save_checkpoint
from edgebench.train.recipe import TrainSpec
from edgebench.train.trainer import train

MIN_INPUT_SIZE = 8  # below this the models' downsampling leaves no pixels


def train_model(model_name: str, data: Optional[str], spec: TrainSpec, out: Path, *,
                input_size: Optional[int] = None, in_channels: int = 3,
                log: Callable[[str], None] = print, resumable: bool = False,
                show_progress: Optional[bool] = None, progress: Optional[Progress] = None) -> Checkpoint:
    """Train and save a checkpoint. `resumable` keeps the training state next to `out` after every epoch
    (`<out>.state`) and continues from it when present; it is removed once the checkpoint is written.
    Each stage's seconds (data, training, checkpoint) are printed through `progress` (default: as lines on
    `log`) and recorded in the checkpoint's `extra["stage_times"]` (the checkpoint's own write, last, is
    printed only). Epoch bars: `progress`'s when given, else `show_progress` (None: on a terminal; False:
    never)."""
    reporter = progress if progress is not None else through(log)
    entry = model_entry(model_name)  # fail on a bad name before loading any data
    size = entry.input_size if input_size is None else input_size
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_INPUT_SIZE:
        raise EdgebenchError(f"input size {input_size} is out of range: give a square size in pixels >= "
                             f"{MIN_INPUT_SIZE}, e.g. 32")
    if in_channels not in (1, 3):
        raise EdgebenchError(f"input channels {in_channels} is not supported: choose 1 or 3")
    check_writable(out)  # refuse an unwritable checkpoint path now, not after hours of training
    with reporter.stage("data"):
        train_raw, test_raw = load_split(data, "train"), load_split(data, "test")
        train_set = resize_images(limit(train_raw, spec.train_limit, spec.seed), (size, size), in_channels)
        test_set = resize_images(test_raw, (size, size), in_channels)
        mean, std = fit_normalisation(train_set)
    preprocess = Preprocess(input_size=(size, size), channels=in_channels, mean=mean, std=std)
    num_classes = class_count(train_set, test_set)
    config = {"num_classes": num_classes, "in_channels": in_channels}
    if "input_size" in entry.defaults:  # models built for one spatial size (DiCE units)
        config["input_size"] = size
    import torch  # torch: heavy, loaded only when this runs

    torch.manual_seed(spec.seed)  # the initial weights too, whatever ran before in this process
    model = create_model(model_name, **config)
    log(f"training {model_name} on {train_set.source}: {len(train_set)} train / {len(test_set)} test images, "
        f"{num_classes} classes, {size}x{size}x{in_channels}, {spec.epochs} epochs ({spec.schedule})")
    state_path = out.with_name(out.name + ".state") if resumable else None
    with reporter.stage(f"training ({spec.epochs} epochs)"):
        result = train(model, train_set, test_set, preprocess, spec, log=log, state_path=state_path,
                       show_progress=show_progress, progress=progress)
    checkpoint = Checkpoint(
        model_name=model_name, model_config=config, preprocess=preprocess,
        class_names=_class_names(train_raw.class_names, num_classes),
        state_dict={k: v.detach().clone() for k, v in model.state_dict().items()}, accuracy=result.accuracy,
        dataset={"source": train_set.source, "train_images": len(train_set), "test_images": len(test_set)},
        train=spec.as_dict(), history=result.history,
        extra={"train_seconds": round(result.seconds, 1), "stage_times": reporter.records()})
    with reporter.stage("checkpoint"):
        save_checkpoint(out, checkpoint)
    if state_path is not None:
        state_path.unlink(missing_ok=True)
    log(f"test accuracy {100 * result.accuracy:.2f} %  ->  {out}")
    return checkpoint


def _class_names(names, count: int):
    return tuple(names[:count]) if len(names) >= count else tuple(str(i) for i in range(count))
