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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.export.spec import Precision

CALIBRATION = {"method": "minmax", "per_channel": True, "config": "TFLiteConverter int8, int8 input and output"}
Log = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class Trial:
    float_layers: Tuple[str, ...]
    accuracy: float
    drop_pp: float

    def as_dict(self) -> Dict:
        return {"float_layers": len(self.float_layers), "accuracy": round(self.accuracy, 6),
                "drop_pp": round(self.drop_pp, 3)}


def fewest_float_layers(start: Sequence[str], ranking: Sequence[str], measure: Callable[[Tuple[str, ...]], Trial],
                        max_drop_pp: float, max_layers: int) -> Tuple[Optional[Trial], List[Trial]]:
    """The first trial within `max_drop_pp` among `start` + the next k layers of `ranking` (k = 0, then the
    smallest k found by doubling and bisection, `len(start) + k <= max_layers`), and every trial measured.
    None when no count up to the limit is within the budget."""
    start = tuple(dict.fromkeys(start))
    rest = [layer for layer in ranking if layer not in start]
    trials: Dict[int, Trial] = {}

    def within(extra: int) -> bool:
        if extra not in trials:
            trials[extra] = measure(start + tuple(rest[:extra]))
        return trials[extra].drop_pp <= max_drop_pp

    if within(0):
        return trials[0], list(trials.values())
    most = min(len(rest), max(max_layers - len(start), 0))
    failing, passing, step = 0, None, 1
    while failing < most:
        extra = min(step, most)
        if within(extra):
            passing = extra
            break
        failing, step = extra, step * 2
    if passing is None:
        return None, list(trials.values())
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if within(middle):
            passing = middle
        else:
            failing = middle
    return trials[passing], list(trials.values())


class EvalScorer:
    """Top-1 accuracy of .tflite bytes on the labelled eval set, run as the device agent runs them, and its drop
    against the fp32 artifact's accuracy."""

    def __init__(self, *, fp32_onnx: Path, eval_inputs: np.ndarray, labels: Optional[np.ndarray], layout,
                 work: Path):
        from edgebench.export.verify import onnx_logits

        if labels is None or len(labels) != len(eval_inputs):
            raise EdgebenchError("--max-drop needs a labelled eval set: pass --data with labels")
        self.eval_inputs = eval_inputs
        self.labels = labels
        self.layout = layout
        self.work = work
        self.reference = float((onnx_logits(fp32_onnx, eval_inputs).argmax(1) == labels).mean())

    def accuracy(self, model: bytes) -> float:
        from edgebench.export.tflite.convert import tflite_logits
        from edgebench.fileio import write_bytes

        path = self.work / "trial.int8.tflite"
        write_bytes(path, model)
        try:
            return float((tflite_logits(path, self.eval_inputs, self.layout).argmax(1) == self.labels).mean())
        finally:
            path.unlink()

    def trial(self, float_layers: Tuple[str, ...], model: bytes) -> Trial:
        accuracy = self.accuracy(model)
        return Trial(float_layers=float_layers, accuracy=accuracy, drop_pp=100.0 * (self.reference - accuracy))


def choose_mix(converter, plan, scorer: EvalScorer, torch_layers: Dict[str, Optional[str]],
               log: Log = print) -> Tuple[bytes, Dict]:
    """The int8 model to write and its "mixed_precision" record (the manifest's B1 block, TFLite's figures).
    Raises the ONNX search's `MixedRefused` (with the record) when even every ranked layer in float is over."""
    from edgebench.export.int8.search import METRIC, MixedRefused

    started = time.perf_counter()
    full_model = converter.convert(Precision.INT8)  # exactly the artifact written without a budget
    full = scorer.trial((), full_model)
    known = set(converter.layer_names())
    # the search's answer is always the last trial within the budget: only that model is kept (big models'
    # trials are tens of MB each)
    latest_within: Dict[Tuple[str, ...], object] = {}

    def measure(layers: Tuple[str, ...]) -> Trial:
        if not layers:
            return full
        # a name the fp32 graph does not hold has no TFLite op either: recorded with the unmatched layers
        mixed = converter.convert_mixed([layer for layer in layers if layer in known])
        found = scorer.trial(layers, mixed.model)
        if found.drop_pp <= plan.max_drop_pp:
            latest_within.clear()
            latest_within[layers] = mixed
        log(f"  tflite mix: {len(layers)} of {len(plan.ranking)} layers in float: accuracy "
            f"{100 * found.accuracy:.2f} %, drop {found.drop_pp:.2f} pp")
        return found

    log(f"  tflite full int8: accuracy {100 * full.accuracy:.2f} %, drop {full.drop_pp:.2f} pp "
        f"(budget {plan.max_drop_pp:g} pp, starting from the ONNX side's {len(plan.float_layers)} float layers)")
    onnx_refused = plan.status == "refused"  # no ONNX mix met the budget: TFLite only checks full int8
    chosen, trials = fewest_float_layers(plan.float_layers, plan.ranking, measure, plan.max_drop_pp,
                                         max_layers=0 if onnx_refused else len(plan.ranking))
    onnx_record = plan.record or {}
    ranked = len(plan.ranking)
    record = {
        "max_drop_pp": plan.max_drop_pp, "metric": onnx_record.get("metric", METRIC),
        "sensitivity_method": onnx_record.get("sensitivity_method"),
        "full_int8": {"accuracy": round(full.accuracy, 6), "drop_pp": round(full.drop_pp, 3)},
        "chosen": None,
        "calibration": dict(CALIBRATION),
        "calibration_search": [],  # TFLiteConverter calibrates one way (min/max per tensor, per-channel weights)
        "sensitivity": list(onnx_record.get("sensitivity", [])),  # the ranking TFLite follows is the ONNX one
        "weights_only": onnx_record.get("weights_only"),
        "reference_accuracy": round(scorer.reference, 6),
        "trials": [trial.as_dict() for trial in trials],
        "tflite_float_ops": [], "unmatched_layers": [],
    }
    if chosen is None:
        record.update(status="refused", search_seconds=round(time.perf_counter() - started, 1))
        reason = (f"full int8 loses {full.drop_pp:.2f} pp and the ONNX search found no mix within it"
                  if onnx_refused else f"with all {ranked} ranked layers in float it still loses "
                  f"{min(t.drop_pp for t in trials):.2f} pp")
        raise MixedRefused(f"TFLite int8 cannot meet --max-drop {plan.max_drop_pp:g}: {reason}; raise --max-drop "
                           "or ship the fp16/fp32 artifact", {"mixed_precision": record})
    mixed = latest_within.get(chosen.float_layers)
    record.update(
        chosen={"accuracy": round(chosen.accuracy, 6), "drop_pp": round(chosen.drop_pp, 3),
                "float_layers": list(chosen.float_layers),
                "float_layers_torch": [torch_layers.get(layer) for layer in chosen.float_layers],
                "float_fraction": round(len(chosen.float_layers) / max(ranked, 1), 4), "quantizable_layers": ranked},
        status="mixed" if chosen.float_layers else "full-int8",
        tflite_float_ops=list(mixed.tflite_float_ops) if mixed is not None else [],
        unmatched_layers=[layer for layer in chosen.float_layers
                          if layer not in known or layer in mixed.unmatched_layers] if mixed is not None else [],
        search_seconds=round(time.perf_counter() - started, 1))
    log(f"  tflite decision: {len(chosen.float_layers)} of {ranked} layers in float "
        f"({len(record['tflite_float_ops'])} TFLite ops, {len(record['unmatched_layers'])} without one), drop "
        f"{chosen.drop_pp:.2f} pp within {plan.max_drop_pp:g} pp ({record['search_seconds']:.1f} s)")
    return (mixed.model if mixed is not None else full_model), record
