"""The accuracy-aware int8 search for ONNX: calibration, a weights-only bound, then the fewest float layers.

1. Full int8 for each calibration method (minmax, entropy, percentile; the spec's own first) x per-channel /
   per-tensor weights, each method calibrated once (`CachedQuantizer`); all int8 configurations of the spec are
   tried with the first method, the best of them with the others. It stops at the first within the budget.
2. Over budget: int8 weights with float activations (`weights_only`) bound what any mix can reach; over
   budget too, the plan is a refusal (the writers raise `MixedRefused` with it).
3. Otherwise the layers are ranked by `sensitivity.layer_scores` on the best full-int8 model, and the fewest
   most sensitive are kept in float (`nodes_to_exclude`) by `budget.fewest_float`, the search the TFLite
   artifact uses too (one quantizer pass with the cached ranges and one eval run per step).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgebench.errors import EdgebenchError
from edgebench.export.int8 import budget
from edgebench.export.int8.budget import Calibration, Trial
from edgebench.export.int8.diagnosed import first_departing
from edgebench.export.int8.plan import MixedPlan, Status
from edgebench.export.int8.quantizer import CachedQuantizer, quantized_nodes, weights_only
from edgebench.export.int8.sensitivity import METHOD, layer_scores
from edgebench.export.onnx_int8 import preprocess_for_quantization
from edgebench.export.spec import CALIBRATION_METHODS, QUANT_CONFIGS, QuantSpec
from edgebench.export.verify import counted_logits, onnx_logits
from edgebench.progress import Progress, disabled

SENSITIVITY_IMAGES = 64
TABLE_ROWS = 8
Log = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class EvalSet:
    inputs: np.ndarray  # normalised float32 NCHW
    labels: np.ndarray


def mixed_int8(fp32_path: Path, *, calibration: np.ndarray, eval_set: EvalSet, spec: QuantSpec, max_drop_pp: float,
               input_name: str, batch_size: int, work: Path, torch_layers: Optional[Dict[str, str]] = None,
               log: Log = print, progress: Optional[Progress] = None) -> MixedPlan:
    """The plan for every int8 artifact: the chosen int8 ONNX model with its quantization block, the ranking
    and float layers, or (`refusal`) why even int8 weights alone, or every ranked layer in float, lose more than
    `max_drop_pp`. `progress`: each trial a stage, the calibration and each trial's eval images a bar."""
    progress = progress if progress is not None else disabled()
    if eval_set.labels is None or len(eval_set.labels) != len(eval_set.inputs):
        raise EdgebenchError("--max-drop needs a labelled eval set: pass --data with labels")
    started = time.perf_counter()
    torch_layers = torch_layers or {}
    prepared = work / "prepared.onnx"
    pre_processed = preprocess_for_quantization(fp32_path, prepared)
    evaluate = _Evaluator(eval_set, _accuracy(fp32_path, eval_set), progress)
    log(f"  int8 search: fp32 accuracy {100 * evaluate.reference:.2f} % on {len(eval_set.inputs)} eval images, "
        f"budget {max_drop_pp:g} pp")
    quantizer = CachedQuantizer(prepared, calibration, input_name, batch_size, work, progress)
    trials = _calibration_search(quantizer, spec, evaluate, max_drop_pp, work, log)
    best = min(trials, key=lambda t: (t.drop_pp, t.calibration.config != spec.configs[0]))
    ranking, record = _ranked(best, prepared, calibration, evaluate, trials, max_drop_pp, torch_layers, log)
    found, refusal = _decide(quantizer, best, ranking, prepared, evaluate, record, work, log)
    record.update(chosen=budget.chosen(found, len(ranking), torch_layers),
                  status=Status.REFUSED if found is None else Status.of(found),
                  search_seconds=round(time.perf_counter() - started, 1))
    if found is not None:
        _log_table(record, log)
    block = _block(best, record, calibration, pre_processed)
    if found is not None:
        block["nodes_to_exclude"] = list(found.float_layers)
    return MixedPlan(max_drop_pp=max_drop_pp, float_layers=found.float_layers if found is not None else (),
                     ranking=ranking, record=record, quantization=block, refusal=refusal,
                     onnx_model=Path(found.artifact).read_bytes() if found is not None else None)


def _ranked(best: Trial, prepared: Path, calibration: np.ndarray, evaluate: "_Evaluator", trials: List[Trial],
            max_drop_pp: float, torch_layers: Dict[str, str], log: Log) -> Tuple[Tuple[str, ...], Dict]:
    """Every quantized node of the best full int8 model, most sensitive first, and the record so far."""
    scores = _scores(best.artifact, prepared, quantized_nodes(best.artifact), calibration, log)
    record = budget.record(max_drop_pp=max_drop_pp, full=best, reference=evaluate.reference,
                           calibration=best.calibration.as_dict(), calibration_search=trials,
                           sensitivity=[_score_dict(s, torch_layers) for s in scores],
                           sensitivity_method=_sensitivity_method(calibration))
    ranking = [s.layer for s in scores]
    if not budget.within(best.drop_pp, max_drop_pp):  # a mix will be searched: the diagnosis's node first
        record["first_divergence"] = first_departing(prepared, best.artifact, calibration, "NCHW", ranking, log)
    return budget.diagnosis_first(ranking, record.get("first_divergence")), record


def _decide(quantizer, best: Trial, ranking: Sequence[str], prepared: Path, evaluate: "_Evaluator", record: Dict,
            work: Path, log: Log) -> Tuple[Optional[Trial], Optional[str]]:
    """Full int8 when it is within; else the weights-only bound, then the fewest float layers; or the refusal."""
    max_drop_pp = record["max_drop_pp"]
    if budget.within(best.drop_pp, max_drop_pp):
        return best, None
    weights_accuracy = evaluate.accuracy(weights_only(prepared, best.artifact, work / "weights-only.onnx"))
    weights_drop = evaluate.drop(weights_accuracy)
    record["weights_only"] = {"accuracy": round(weights_accuracy, 6), "drop_pp": round(weights_drop, 3)}
    log(f"  int8 weights only (float activations): drop {weights_drop:.2f} pp")
    if not budget.within(weights_drop, max_drop_pp):
        return None, (f"int8 cannot meet --max-drop {max_drop_pp:g}: full int8 loses {best.drop_pp:.2f} pp and "
                      f"even int8 weights with float activations lose {weights_drop:.2f} pp; raise --max-drop "
                      f"above {weights_drop:.2f} or ship the fp16/fp32 artifact")
    found, _ = budget.fewest_float(_mix_measure(quantizer, best, len(ranking), evaluate, work, log), ranking,
                                   max_drop_pp, first=best, progress=evaluate.progress)
    if found is None:
        return None, (f"int8 cannot meet --max-drop {max_drop_pp:g}: even with all {len(ranking)} layers in float "
                      "the quantized joins and pools lose too much; raise --max-drop or ship the fp16/fp32 "
                      "artifact")
    return found, None


class _Evaluator:
    def __init__(self, eval_set: EvalSet, reference: float, progress: Progress):
        self.eval_set = eval_set
        self.reference = reference
        self.progress = progress  # a bar over the eval images of each trial

    def accuracy(self, path: Path) -> float:
        return _accuracy(path, self.eval_set, self.progress)

    def drop(self, accuracy: float) -> float:
        return budget.drop_pp(self.reference, accuracy)

    def trial(self, path: Path, calibration: Calibration, float_layers: Tuple[str, ...] = ()) -> Trial:
        accuracy = self.accuracy(path)
        return Trial(accuracy=accuracy, drop_pp=self.drop(accuracy), float_layers=float_layers,
                     calibration=calibration, artifact=path)


def _accuracy(path: Path, eval_set: EvalSet, progress: Optional[Progress] = None) -> float:
    logits = counted_logits(progress, "eval images", onnx_logits, path, eval_set.inputs)
    return float((logits.argmax(1) == eval_set.labels).mean())


def _calibration_search(quantizer, spec: QuantSpec, evaluate: _Evaluator, max_drop_pp: float, work: Path,
                        log: Log) -> List[Trial]:
    methods = (spec.method,) + tuple(m for m in CALIBRATION_METHODS if m != spec.method)
    granularities = (spec.per_channel, not spec.per_channel)
    trials: List[Trial] = []
    for index, method in enumerate(methods):
        configs = spec.configs if index == 0 else (min(trials, key=lambda t: t.drop_pp).calibration.config,)
        for per_channel in granularities:
            for config in configs:
                granularity = "per-channel" if per_channel else "per-tensor"
                with evaluate.progress.stage(f"int8 trial: full int8 {method}, {granularity}, {config}"):
                    path = quantizer.write(work / f"full-{method}-{'pc' if per_channel else 'pt'}-{config}.onnx",
                                           method=method, per_channel=per_channel, config=config)
                    trial = evaluate.trial(path, Calibration(method=method, per_channel=per_channel, config=config))
                trials.append(trial)
                log(f"  full int8 {method}, {granularity}, {config}: "
                    f"accuracy {100 * trial.accuracy:.2f} %, drop {trial.drop_pp:.2f} pp")
                if budget.within(trial.drop_pp, max_drop_pp):
                    return trials
    return trials


def _mix_measure(quantizer, best: Trial, ranked: int, evaluate: _Evaluator, work: Path,
                 log: Log) -> Callable[[Tuple[str, ...]], Trial]:
    """The ONNX model with `layers` kept in float (`nodes_to_exclude`), the best calibration's ranges reused."""
    calibration = best.calibration

    def measure(layers: Tuple[str, ...]) -> Trial:
        path = quantizer.write(work / f"mix-{len(layers)}.onnx", method=calibration.method,
                               per_channel=calibration.per_channel, config=calibration.config, exclude=list(layers))
        trial = evaluate.trial(path, calibration, layers)
        log(f"  mix: {len(layers)} of {ranked} layers in float: accuracy {100 * trial.accuracy:.2f} %, "
            f"drop {trial.drop_pp:.2f} pp")
        return trial

    return measure


def _scores(qdq_path: Path, prepared: Path, layers: Sequence[str], calibration: np.ndarray, log: Log):
    tick = time.perf_counter()
    scores = layer_scores(qdq_path, prepared, layers, calibration[:SENSITIVITY_IMAGES])
    log(f"  sensitivity of {len(layers)} layers on {min(len(calibration), SENSITIVITY_IMAGES)} calibration images "
        f"({time.perf_counter() - tick:.1f} s)")
    return scores


def _sensitivity_method(calibration: np.ndarray) -> str:
    return METHOD.format(images=min(len(calibration), SENSITIVITY_IMAGES))


def _score_dict(score, torch_layers: Dict[str, str]) -> Dict:
    return {"layer": score.layer, "torch_layer": torch_layers.get(score.layer), "op_type": score.op_type,
            "score": _finite(score.score), "weight": _finite(score.weight), "input": _finite(score.input),
            "output": _finite(score.output)}


def _finite(value: float) -> Optional[float]:
    return float(f"{value:.6g}") if math.isfinite(value) else None


def _block(best: Trial, record: Dict, calibration: np.ndarray, pre_processed: bool) -> Dict:
    """The artifact's quantization block: today's fields for the chosen calibration, plus the mixed record."""
    chosen = best.calibration
    activation, reduce_range = QUANT_CONFIGS[chosen.config]
    return {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ", "config": chosen.config,
            "activation_type": activation, "weight_type": "int8", "reduce_range": reduce_range,
            "per_channel": chosen.per_channel, "calibration_method": chosen.method,
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
