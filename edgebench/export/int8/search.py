"""The accuracy-aware int8 search for ONNX: calibration, a weights-only bound, then the fewest float layers.

1. Full int8 for each calibration method (minmax, entropy, percentile; the spec's own first) x per-channel /
   per-tensor weights, each method calibrated once (`CachedQuantizer`); all int8 configurations of the spec are
   tried with the first method, the best of them with the others. It stops at the first within the budget.
2. Over budget: int8 weights with float activations (`weights_only`) bound what any mix can reach; over
   budget too, the int8 artifact is refused (`MixedRefused`).
3. Otherwise the layers are ranked by `sensitivity.layer_scores` on the best full-int8 model, and the top k
   are kept in float (`nodes_to_exclude`) for k = 1, 2, 4, 8 ... until the drop is within budget, then the
   smallest k between the last two that is within budget is found by bisection (one quantizer pass with the
   cached ranges and one eval run per step).
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.export.int8.plan import MixedPlan, Status
from edgebench.export.spec import CALIBRATION_METHODS, QUANT_CONFIGS, QuantSpec

METRIC = "top-1 accuracy on the eval set against the fp32 artifact"
SENSITIVITY_IMAGES = 64
TABLE_ROWS = 8
Log = Callable[[str], None]


class MixedRefused(EdgebenchError):
    """No int8 model meets the budget: the one-line reason, the record of what was measured and the plan."""

    def __init__(self, message: str, quantization: Dict, plan: Optional[MixedPlan] = None):
        super().__init__(message)
        self.quantization = quantization
        self.plan = plan  # status "refused": other formats should not try either


@dataclass(frozen=True, kw_only=True)
class Trial:
    method: str
    per_channel: bool
    config: str
    path: Path
    accuracy: float
    drop_pp: float

    def as_dict(self) -> Dict:
        return {"method": self.method, "per_channel": self.per_channel, "config": self.config,
                "accuracy": round(self.accuracy, 6), "drop_pp": round(self.drop_pp, 3)}


@dataclass(frozen=True, kw_only=True)
class EvalSet:
    inputs: np.ndarray  # normalised float32 NCHW
    labels: np.ndarray


def mixed_int8(fp32_path: Path, out_path: Path, *, calibration: np.ndarray, eval_set: EvalSet, spec: QuantSpec,
               max_drop_pp: float, input_name: str, batch_size: int, work: Path,
               torch_layers: Optional[Dict[str, str]] = None, log: Log = print) -> Tuple[Dict, MixedPlan]:
    """Write the chosen int8 model to `out_path`; return its quantization block and the plan for other formats.
    Raises MixedRefused when even int8 weights alone lose more than `max_drop_pp`."""
    from edgebench.export.int8.quantizer import CachedQuantizer, quantized_layers, weights_only
    from edgebench.export.onnx_int8 import preprocess_for_quantization

    if eval_set.labels is None or len(eval_set.labels) != len(eval_set.inputs):
        raise EdgebenchError("--max-drop needs a labelled eval set: pass --data with labels")
    started = time.perf_counter()
    torch_layers = torch_layers or {}
    prepared = work / "prepared.onnx"
    pre_processed = preprocess_for_quantization(fp32_path, prepared)
    evaluate = _Evaluator(eval_set, _accuracy(fp32_path, eval_set))
    log(f"  int8 search: fp32 accuracy {100 * evaluate.reference:.2f} % on {len(eval_set.inputs)} eval images, "
        f"budget {max_drop_pp:g} pp")
    quantizer = CachedQuantizer(prepared, calibration, input_name, batch_size, work)
    trials = _calibration_search(quantizer, spec, evaluate, max_drop_pp, work, log)
    best = min(trials, key=lambda t: (t.drop_pp, t.config != spec.configs[0]))
    record = {"max_drop_pp": max_drop_pp, "metric": METRIC,
              "sensitivity_method": _sensitivity_method(calibration),
              "full_int8": {"accuracy": round(best.accuracy, 6), "drop_pp": round(best.drop_pp, 3)},
              "calibration": {"method": best.method, "per_channel": best.per_channel, "config": best.config},
              "calibration_search": [t.as_dict() for t in trials], "weights_only": None, "sensitivity": [],
              "reference_accuracy": round(evaluate.reference, 6)}
    layers = quantized_layers(best.path)
    scores = _scores(best.path, prepared, layers, calibration, log)
    record["sensitivity"] = [_score_dict(s, torch_layers) for s in scores]
    ranking = [s.layer for s in scores]
    plan = MixedPlan(max_drop_pp=max_drop_pp, float_layers=(), ranking=tuple(ranking), record=record)
    chosen_path, float_layers = best.path, []
    if best.drop_pp <= max_drop_pp:
        status, chosen = Status.FULL_INT8, best
    else:
        weights = weights_only(prepared, best.path, work / "weights-only.onnx")
        weights_accuracy = evaluate.accuracy(weights)
        weights_drop = evaluate.drop(weights_accuracy)
        record["weights_only"] = {"accuracy": round(weights_accuracy, 6), "drop_pp": round(weights_drop, 3)}
        log(f"  int8 weights only (float activations): drop {weights_drop:.2f} pp")
        if weights_drop > max_drop_pp:
            _refuse(record, layers, started, plan, best, calibration, pre_processed,
                    f"int8 cannot meet --max-drop {max_drop_pp:g}: full int8 loses {best.drop_pp:.2f} pp and even "
                    f"int8 weights with float activations lose {weights_drop:.2f} pp; raise --max-drop above "
                    f"{weights_drop:.2f} or ship the fp16/fp32 artifact")
        found = _fewest_float(quantizer, best, ranking, evaluate, max_drop_pp, work, log)
        if found is None:
            _refuse(record, layers, started, plan, best, calibration, pre_processed,
                    f"int8 cannot meet --max-drop {max_drop_pp:g}: even with all {len(layers)} layers in float the "
                    "quantized joins and pools lose too much; raise --max-drop or ship the fp16/fp32 artifact")
        chosen, float_layers = found
        status, chosen_path = (Status.MIXED if float_layers else Status.FULL_INT8), chosen.path
    shutil.copyfile(chosen_path, out_path)
    record.update(_chosen(chosen, float_layers, layers, torch_layers), status=status,
                  search_seconds=round(time.perf_counter() - started, 1))
    _log_table(record, log)
    block = _block(best, record, calibration, pre_processed)
    block["nodes_to_exclude"] = list(float_layers)
    return block, MixedPlan(max_drop_pp=max_drop_pp, float_layers=tuple(float_layers), ranking=tuple(ranking),
                            record=record)


def _refuse(record: Dict, layers, started: float, plan: MixedPlan, best: Trial, calibration: np.ndarray,
            pre_processed: bool, message: str) -> None:
    record.update(_chosen(None, [], layers, {}), status=Status.REFUSED,
                  search_seconds=round(time.perf_counter() - started, 1))
    raise MixedRefused(message, _block(best, record, calibration, pre_processed), plan)


class _Evaluator:
    def __init__(self, eval_set: EvalSet, reference: float):
        self.eval_set = eval_set
        self.reference = reference

    def accuracy(self, path: Path) -> float:
        return _accuracy(path, self.eval_set)

    def drop(self, accuracy: float) -> float:
        return 100.0 * (self.reference - accuracy)


def _accuracy(path: Path, eval_set: EvalSet) -> float:
    from edgebench.export.verify import onnx_logits

    logits = onnx_logits(path, eval_set.inputs)
    return float((logits.argmax(1) == eval_set.labels).mean())


def _calibration_search(quantizer, spec: QuantSpec, evaluate: _Evaluator, max_drop_pp: float, work: Path,
                        log: Log) -> List[Trial]:
    methods = (spec.method,) + tuple(m for m in CALIBRATION_METHODS if m != spec.method)
    granularities = (spec.per_channel, not spec.per_channel)
    trials: List[Trial] = []
    for index, method in enumerate(methods):
        configs = spec.configs if index == 0 else (min(trials, key=lambda t: t.drop_pp).config,)
        for per_channel in granularities:
            for config in configs:
                path = quantizer.write(work / f"full-{method}-{'pc' if per_channel else 'pt'}-{config}.onnx",
                                       method=method, per_channel=per_channel, config=config)
                accuracy = evaluate.accuracy(path)
                trial = Trial(method=method, per_channel=per_channel, config=config, path=path, accuracy=accuracy,
                              drop_pp=evaluate.drop(accuracy))
                trials.append(trial)
                log(f"  full int8 {method}, {'per-channel' if per_channel else 'per-tensor'}, {config}: "
                    f"accuracy {100 * accuracy:.2f} %, drop {trial.drop_pp:.2f} pp")
                if trial.drop_pp <= max_drop_pp:
                    return trials
    return trials


def _fewest_float(quantizer, best: Trial, ranking: Sequence[str], evaluate: _Evaluator, max_drop_pp: float,
                  work: Path, log: Log) -> Optional[Tuple[Trial, List[str]]]:
    """The top-k most sensitive layers in float for the smallest k `smallest_within` finds."""
    measured: Dict[int, Trial] = {}

    def within(k: int) -> bool:
        path = quantizer.write(work / f"mix-{k}.onnx", method=best.method, per_channel=best.per_channel,
                               config=best.config, exclude=list(ranking[:k]))
        accuracy = evaluate.accuracy(path)
        measured[k] = Trial(method=best.method, per_channel=best.per_channel, config=best.config, path=path,
                            accuracy=accuracy, drop_pp=evaluate.drop(accuracy))
        log(f"  mix: {k} of {len(ranking)} layers in float: accuracy {100 * accuracy:.2f} %, "
            f"drop {measured[k].drop_pp:.2f} pp")
        return measured[k].drop_pp <= max_drop_pp

    k = smallest_within(within, len(ranking))
    return None if k is None else (measured[k], list(ranking[:k]))


def smallest_within(within: Callable[[int], bool], count: int) -> Optional[int]:
    """Doubling k = 1, 2, 4 ... (capped at `count`) until `within(k)`, then bisection between the last k that
    failed and the first that passed; None when even `count` fails. Each k is asked at most once."""
    if count < 1:
        return None
    failed, k = 0, 1
    while not within(k):
        if k >= count:
            return None
        failed, k = k, min(2 * k, count)
    low, high = failed + 1, k
    while low < high:
        middle = (low + high) // 2
        if within(middle):
            high = middle
        else:
            low = middle + 1
    return high


def _scores(qdq_path: Path, prepared: Path, layers: Sequence[str], calibration: np.ndarray, log: Log):
    from edgebench.export.int8.sensitivity import layer_scores

    tick = time.perf_counter()
    scores = layer_scores(qdq_path, prepared, layers, calibration[:SENSITIVITY_IMAGES])
    log(f"  sensitivity of {len(layers)} layers on {min(len(calibration), SENSITIVITY_IMAGES)} calibration images "
        f"({time.perf_counter() - tick:.1f} s)")
    return scores


def _sensitivity_method(calibration: np.ndarray) -> str:
    from edgebench.export.int8.sensitivity import METHOD

    return METHOD.format(images=min(len(calibration), SENSITIVITY_IMAGES))


def _score_dict(score, torch_layers: Dict[str, str]) -> Dict:
    return {"layer": score.layer, "torch_layer": torch_layers.get(score.layer), "op_type": score.op_type,
            "score": _finite(score.score), "weight": _finite(score.weight), "input": _finite(score.input),
            "output": _finite(score.output)}


def _finite(value: float) -> Optional[float]:
    return float(f"{value:.6g}") if math.isfinite(value) else None


def _chosen(trial: Optional[Trial], float_layers: Sequence[str], layers: Sequence[str],
            torch_layers: Dict[str, str]) -> Dict:
    chosen = None
    if trial is not None:
        chosen = {"accuracy": round(trial.accuracy, 6), "drop_pp": round(trial.drop_pp, 3),
                  "float_layers": list(float_layers),
                  "float_layers_torch": [torch_layers.get(layer) for layer in float_layers],
                  "float_fraction": round(len(float_layers) / max(len(layers), 1), 4),
                  "quantizable_layers": len(layers)}
    return {"chosen": chosen}


def _block(best: Trial, record: Dict, calibration: np.ndarray, pre_processed: bool) -> Dict:
    """The artifact's quantization block: today's fields for the chosen calibration, plus the mixed record."""
    activation, reduce_range = QUANT_CONFIGS[best.config]
    return {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ", "config": best.config,
            "activation_type": activation, "weight_type": "int8", "reduce_range": reduce_range,
            "per_channel": best.per_channel, "calibration_method": best.method,
            "calibration_images": int(len(calibration)), "pre_processed": pre_processed,
            "mixed_precision": record}


def _log_table(record: Dict, log: Log) -> None:
    chosen = record["chosen"] or {}
    floats = set(chosen.get("float_layers", []))
    log(f"  most sensitive layers ({record['sensitivity_method'].split(':')[0]}):")
    for entry in record["sensitivity"][:TABLE_ROWS]:
        name = entry["layer"] + (f" ({entry['torch_layer']})" if entry["torch_layer"] else "")
        score = "n/a" if entry["score"] is None else f"{entry['score']:.3g}"
        log(f"    {'float' if entry['layer'] in floats else 'int8 '}  {score:>9}  {entry['op_type']:<6} {name}")
    if record["status"] == Status.FULL_INT8:
        log(f"  decision: full int8 ({record['calibration']['method']}, "
            f"{'per-channel' if record['calibration']['per_channel'] else 'per-tensor'}), drop "
            f"{record['full_int8']['drop_pp']:.2f} pp within {record['max_drop_pp']:g} pp "
            f"({record['search_seconds']:.1f} s)")
    else:
        log(f"  decision: {len(floats)} of {chosen['quantizable_layers']} layers in float, drop "
            f"{chosen['drop_pp']:.2f} pp (full int8: {record['full_int8']['drop_pp']:.2f} pp) within "
            f"{record['max_drop_pp']:g} pp ({record['search_seconds']:.1f} s)")
