"""The TFLite int8 artifact within an accuracy budget: the ONNX side's float layers first, then more if needed.

The ONNX int8 search ranks the layers by sensitivity and keeps the fewest in float that its own artifact needs
(`MixedPlan`). TFLite quantizes differently (its own calibration and kernels), so its artifact is measured on
the eval set itself: it starts from the plan's float layers and, while the drop is over the budget, adds the
next layers of the plan's ranking. The number added is found by doubling (1, 2, 4, ...) up to the first count
within the budget, then by bisection below it, so a model with n ranked layers costs about 2 log2(n)
quantization passes and eval runs, not n. Like the ONNX search it may go up to every ranked layer, and refuses
the artifact when even that is over the budget.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.export.int8 import budget
from edgebench.export.int8.budget import Status, Trial
from edgebench.export.int8.diagnosed import first_departing
from edgebench.export.int8.plan import MixedPlan, MixedRefused
from edgebench.export.spec import Precision
from edgebench.export.tflite.convert import tflite_logits
from edgebench.export.verify import counted_logits, onnx_logits
from edgebench.fileio import write_bytes
from edgebench.progress import Progress, disabled

CALIBRATION = {"method": "minmax", "per_channel": True, "config": "TFLiteConverter int8, int8 input and output"}
Log = Callable[[str], None]


class EvalScorer:
    """Top-1 accuracy of .tflite bytes on the labelled eval set, run as the device agent runs them, and its drop
    against the fp32 artifact's accuracy."""

    def __init__(self, *, fp32_onnx: Path, eval_inputs: np.ndarray, labels: Optional[np.ndarray], layout,
                 work: Path, progress: Optional[Progress] = None):
        if labels is None or len(labels) != len(eval_inputs):
            raise EdgebenchError("--max-drop needs a labelled eval set: pass --data with labels")
        self.eval_inputs = eval_inputs
        self.labels = labels
        self.layout = layout
        self.work = work
        self.progress = progress if progress is not None else disabled()  # the trials' stages and bars
        self.reference = float((onnx_logits(fp32_onnx, eval_inputs).argmax(1) == labels).mean())

    def accuracy(self, model: bytes) -> float:
        path = self.work / "trial.int8.tflite"
        write_bytes(path, model)
        try:
            logits = counted_logits(self.progress, "eval images", tflite_logits, path, self.eval_inputs,
                                    layout=self.layout)
            return float((logits.argmax(1) == self.labels).mean())
        finally:
            path.unlink()

    def trial(self, float_layers: Tuple[str, ...], model: bytes, artifact: object = None) -> Trial:
        accuracy = self.accuracy(model)
        return Trial(float_layers=float_layers, accuracy=accuracy, drop_pp=budget.drop_pp(self.reference, accuracy),
                     artifact=model if artifact is None else artifact)


def choose_mix(converter, plan: MixedPlan, scorer: EvalScorer, torch_layers: Dict[str, Optional[str]],
               log: Log = print) -> Tuple[bytes, Dict]:
    """The int8 model to write and its "mixed_precision" record (the manifest's B1 block, TFLite's figures):
    the plan's float layers first, then the next of its ranking, by `budget.fewest_float`. Raises `MixedRefused`
    (with the record) when even every ranked layer in float is over; a refused plan only tries full int8."""
    started = time.perf_counter()
    with scorer.progress.stage("int8 trial: full int8"):
        full = scorer.trial((), converter.convert(Precision.INT8))  # exactly the artifact written without a budget
    log(f"  tflite full int8: accuracy {100 * full.accuracy:.2f} %, drop {full.drop_pp:.2f} pp "
        f"(budget {plan.max_drop_pp:g} pp, starting from the ONNX side's {len(plan.float_layers)} float layers)")
    onnx_refused = plan.status == Status.REFUSED
    departs = None if onnx_refused else _diagnosed(converter, plan, full, scorer, log)
    ranking = budget.diagnosis_first(plan.ranking, departs)
    chosen, trials = budget.fewest_float(_measure(converter, plan, scorer, log), ranking, plan.max_drop_pp,
                                         start=plan.float_layers, limit=0 if onnx_refused else None,
                                         first=full if not plan.float_layers else None, progress=scorer.progress)
    onnx_record, ranked = plan.record or {}, len(plan.ranking)
    record = budget.record(max_drop_pp=plan.max_drop_pp, full=full, reference=scorer.reference,
                           calibration=CALIBRATION, sensitivity=onnx_record.get("sensitivity", []),
                           sensitivity_method=onnx_record.get("sensitivity_method"),
                           weights_only=onnx_record.get("weights_only"),
                           metric=onnx_record.get("metric", budget.METRIC))
    record.update(trials=[trial.as_dict() for trial in trials], tflite_float_ops=[], unmatched_layers=[],
                  first_divergence=departs)
    if chosen is None:
        record.update(status=Status.REFUSED, search_seconds=round(time.perf_counter() - started, 1))
        reason = (f"full int8 loses {full.drop_pp:.2f} pp and the ONNX search found no mix within it"
                  if onnx_refused else f"with all {ranked} ranked layers in float it still loses "
                  f"{min(t.drop_pp for t in trials):.2f} pp")
        raise MixedRefused(f"TFLite int8 cannot meet --max-drop {plan.max_drop_pp:g}: {reason}; raise --max-drop "
                           "or ship the fp16/fp32 artifact", {"mixed_precision": record})
    mixed = chosen.artifact if chosen.float_layers else None  # a selective.MixedTflite
    known = set(converter.layer_names()) if mixed is not None else set()
    record.update(
        chosen=budget.chosen(chosen, ranked, torch_layers), status=Status.of(chosen),
        tflite_float_ops=list(mixed.tflite_float_ops) if mixed is not None else [],
        unmatched_layers=[layer for layer in chosen.float_layers
                          if layer not in known or layer in mixed.unmatched_layers] if mixed is not None else [],
        search_seconds=round(time.perf_counter() - started, 1))
    log(f"  tflite decision: {len(chosen.float_layers)} of {ranked} layers in float "
        f"({len(record['tflite_float_ops'])} TFLite ops, {len(record['unmatched_layers'])} without one), drop "
        f"{chosen.drop_pp:.2f} pp within {plan.max_drop_pp:g} pp ({record['search_seconds']:.1f} s)")
    return (mixed.model if mixed is not None else full.artifact), record


def _diagnosed(converter, plan: MixedPlan, full: Trial, scorer: EvalScorer, log: Log) -> Optional[Dict]:
    """Where TFLite's full int8 departs first from the fp32 graph, when it is over the budget."""
    if budget.within(full.drop_pp, plan.max_drop_pp):
        return None
    path = scorer.work / "full.int8.tflite"
    write_bytes(path, full.artifact)
    try:
        return first_departing(converter.onnx_path, path, converter.calibration_nchw, converter.layout.value,
                               plan.ranking, log)
    finally:
        path.unlink()


def _measure(converter, plan: MixedPlan, scorer: EvalScorer, log: Log) -> Callable[[Tuple[str, ...]], Trial]:
    """The TFLite model with `layers` in float (kept with the trial only when within the budget); a name the
    fp32 graph does not hold has no TFLite op either (recorded with the unmatched layers)."""
    known = set(converter.layer_names())

    def measure(layers: Tuple[str, ...]) -> Trial:
        mixed = converter.convert_mixed([layer for layer in layers if layer in known])
        found = scorer.trial(layers, mixed.model, artifact=mixed)
        if not budget.within(found.drop_pp, plan.max_drop_pp):  # only a model within may be chosen: big
            found = replace(found, artifact=None)  # models' trials are tens of MB each
        log(f"  tflite mix: {len(layers)} of {len(plan.ranking)} layers in float: accuracy "
            f"{100 * found.accuracy:.2f} %, drop {found.drop_pp:.2f} pp")
        return found

    return measure
