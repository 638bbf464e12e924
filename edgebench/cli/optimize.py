from __future__ import annotations

import os
from pathlib import Path

import click

from edgebench.cli.options import (FRACTION, INPUT_SIZE, MAX_DROP, NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT,
                                   SEED, THREADS, comma_list, data_option, executor_option, out_option, quiet_option,
                                   reporter)
from edgebench.errors import EdgebenchError
from edgebench.export.spec import default_formats
from edgebench.optimize.host import ModelInput
from edgebench.optimize.run import OptimizeSpec, parse_budget, run_optimize
from edgebench.optimize.sources import DEFAULT_FINE_TUNE_EPOCHS, DEFAULT_FINE_TUNE_LR, parse_prune, resolve_variants
from edgebench.optimize.space import PRECISIONS, Space

SWITCHES = {"on": True, "off": False}


def _words(value, flag: str, choices) -> tuple:
    items = tuple(part.strip() for part in value.split(",") if part.strip()) if value else ()
    bad = [item for item in items if item not in choices]
    if bad or (value is not None and not items):
        raise click.BadParameter(f"'{value}' is not a list of {', '.join(choices)}", param_hint=flag)
    return items


def _budget(ctx, param, value):

    try:
        return parse_budget(value)
    except EdgebenchError as exc:
        raise click.BadParameter(str(exc).removeprefix("--device-budget "), param_hint="--device-budget") from None


@click.command("optimize")
@click.argument("model")
@click.option("--device", "target", default="local", show_default=True,
              help="local, ssh://user@host[:port], or a name from the devices file")
@click.option("--devices", "devices_file", type=click.Path(dir_okay=False), help="devices file")
@click.option("--max-drop", type=MAX_DROP, required=True, metavar="PP",
              help="accuracy points the answer may lose against fp32 on the eval set (a number >= 0)")
@click.option("--objective", type=click.Choice(["latency", "size", "memory"]), default="latency", show_default=True)
@click.option("--device-budget", default="30m", show_default=True, callback=_budget,
              help="device time the search may spend: 90s, 30m, 1h (0: the host stage and a complete report only)")
@click.option("--stop", type=click.Choice(["best", "first"]), default="best", show_default=True,
              help="first: the first candidate that meets the budget and beats fp32")
@click.option("--format", "formats", help="comma-separated: onnx, tflite (default: both when the TFLite converter "
              "is installed)")
@click.option("--precisions", help="comma-separated: fp32, fp16, dynamic, int8, int8-mix (default: all)")
@click.option("--threads", type=comma_list(THREADS), help="thread counts to sweep (default: 1 to the device's cores)")
@click.option("--xnnpack", help="TFLite XNNPACK settings to sweep: on, off or on,off [default: on,off]")
@click.option("--graph-optimization", help="ONNX Runtime graph optimisation levels to sweep [default: "
              "all,basic,disable]")
@click.option("--checkpoint", type=click.Path(), help="checkpoint from `edgebench train` (zoo models)")
@data_option()
@click.option("--input-size", type=INPUT_SIZE, help="square input size (ONNX / Python models without one)")
@click.option("--channels", type=click.Choice(["1", "3"]), help="input channels (ONNX / Python models)")
@click.option("--mean", type=comma_list(FRACTION), help="per-channel mean in [0,1] units")
@click.option("--std", type=comma_list(POSITIVE_FLOAT), help="per-channel std in [0,1] units")
@click.option("--eval-size", type=POSITIVE_INT, default=500, show_default=True, help="labelled images bundled")
@click.option("--calibration-size", type=POSITIVE_INT, default=256, show_default=True)
@click.option("--prune", "prune_spec", metavar="channel:R[,R...]",
              help="also search MODEL pruned structurally at each channel ratio, e.g. channel:0.25,0.5 (needs "
                   "--checkpoint and --data); drops are measured from the unpruned model")
@click.option("--fine-tune-epochs", type=NON_NEGATIVE_INT, default=DEFAULT_FINE_TUNE_EPOCHS, show_default=True,
              help="fine-tuning epochs after each --prune step (0: none)")
@click.option("--fine-tune-lr", type=POSITIVE_FLOAT, default=DEFAULT_FINE_TUNE_LR, show_default=True,
              help="learning rate of the fine-tuning after pruning (SGD, plateau schedule)")
@click.option("--seed", type=SEED, default=0, show_default=True, help="seed of the pruning's fine-tuning")
@click.option("--variants", metavar="SELECTION", help="the study's variants to search, e.g. 6-14 or 6,10,13 (with "
              "--variants-from; default there: every finished variant)")
@click.option("--variants-from", type=click.Path(file_okay=False), metavar="FOLDER",
              help="an `edgebench ablation` folder whose checkpoints are the sources; MODEL is then its "
                   "architecture (the baseline is the reference) or one of its variants")
@out_option("folder for the answer, the caches and the journal (default: optimize/MODEL)")
@executor_option("where the host exports run: local (here, one at a time), process:N (N worker processes), "
                 "ray or ray:ADDRESS")
@quiet_option()
def command(model, target, devices_file, max_drop, objective, device_budget, stop, formats, precisions, threads,
            xnnpack, graph_optimization, checkpoint, data, input_size, channels, mean, std, eval_size,
            calibration_size, prune_spec, fine_tune_epochs, fine_tune_lr, seed, variants, variants_from, out,
            executor, quiet) -> None:
    """Find the fastest (or smallest) artifact of MODEL within an accuracy budget, and prove it on the device:
    host exports and accuracy first, then device screening, a settings sweep on the few best and a long
    confirmation. With --prune or --variants, MODEL's pruned copies or the study's variants are searched too,
    every drop measured from one reference. Prints one answer line; the why is in OUT/optimize.html."""

    space = Space(formats=_words(formats, "--format", ("onnx", "tflite")) or tuple(f.value for f in default_formats()),
                  precisions=_words(precisions, "--precisions", PRECISIONS) or PRECISIONS,
                  threads=tuple(threads) if threads else tuple(range(1, (os.cpu_count() or 1) + 1)),
                  xnnpack=tuple(SWITCHES[w] for w in _words(xnnpack, "--xnnpack", tuple(SWITCHES))) or (True, False),
                  graph_optimizations=_words(graph_optimization, "--graph-optimization",
                                             ("disable", "basic", "extended", "all")) or ("all", "basic", "disable"))
    source = ModelInput(model=model, checkpoint=checkpoint, data=data, input_size=input_size,
                        channels=int(channels) if channels else None, mean=mean, std=std, eval_size=eval_size,
                        calibration_size=calibration_size)
    name = Path(model).stem if model.endswith(".onnx") else model.replace(":", "_").replace("/", "_")
    prune, study = _axes(model, prune_spec, (fine_tune_epochs, fine_tune_lr, seed), variants, variants_from)
    spec = OptimizeSpec(source=source, device=target, devices_file=devices_file, max_drop=max_drop,
                        objective=objective, budget_s=device_budget, stop_first=stop == "first", space=space,
                        out=Path(out) if out else Path("optimize") / name, executor=executor, prune=prune,
                        variants=study)
    outcome = run_optimize(spec, reporter(quiet))  # on stdout, as every command's progress
    click.echo(outcome.answer_line)
    if outcome.interrupted is not None:
        raise outcome.interrupted
    if outcome.report["stopped"]:

        raise EdgebenchError(f"{outcome.report['stopped']} (the report and the best so far are in {spec.out})")


def _axes(model: str, prune_spec, fine_tune: tuple, variants, variants_from):
    """The optional axes, checked before any work: (PruneAxis or None, VariantsAxis or None). `fine_tune`:
    (epochs, learning rate, seed)."""
    ctx = click.get_current_context()
    given = {name for name in ("fine_tune_epochs", "fine_tune_lr", "seed")
             if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT}
    if prune_spec is None and given:
        flag = "--" + sorted(given)[0].replace("_", "-")
        raise click.UsageError(f"{flag} goes with --prune: give --prune channel:R[,R...] too", ctx=ctx)
    if variants is not None and variants_from is None:
        raise click.UsageError("--variants needs --variants-from: the `edgebench ablation` folder that holds the "
                               "variants' checkpoints", ctx=ctx)
    epochs, lr, seed = fine_tune
    prune = None if prune_spec is None else parse_prune(prune_spec, fine_tune_epochs=epochs, fine_tune_lr=lr,
                                                        seed=seed)
    if prune is not None and variants_from is not None:
        raise click.UsageError("--prune and --variants do not go together: search MODEL's pruned copies, or the "
                               "study's variants", ctx=ctx)
    study = resolve_variants(model, variants, Path(variants_from)) if variants_from is not None else None
    return prune, study
