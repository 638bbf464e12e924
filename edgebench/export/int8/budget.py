"""The one int8 budget search both formats use: what a trial measured, which trials are within the budget, the
fewest float layers of a ranking that bring the drop within it, and the manifest's "mixed_precision" record.

ONNX (`search.py`) and TFLite (`edgebench.export.tflite.mixed`) differ only in how they make and measure a model
for a set of float layers (`measure`); the search, the tolerance and the record are these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from edgebench.progress import Progress, disabled
from edgebench.report.budget import TOLERANCE_PP

METRIC = "top-1 accuracy on the eval set against the fp32 artifact"


@dataclass(frozen=True, kw_only=True)
class Calibration:
    method: str
    per_channel: bool
    config: str

    def as_dict(self) -> Dict:
        return {"method": self.method, "per_channel": self.per_channel, "config": self.config}


@dataclass(frozen=True, kw_only=True)
class Trial:
    """One int8 model measured on the eval set: its float layers, calibration and drop against fp32."""

    accuracy: float
    drop_pp: float
    float_layers: Tuple[str, ...] = ()
    calibration: Optional[Calibration] = None
    artifact: object = field(default=None, compare=False, repr=False)  # the model (a path or bytes)

    def as_dict(self) -> Dict:
        """A calibration-search entry (with its calibration) or a mix entry (with its float layer count)."""
        head = self.calibration.as_dict() if self.calibration is not None else \
            {"float_layers": len(self.float_layers)}
        return {**head, "accuracy": round(self.accuracy, 6), "drop_pp": round(self.drop_pp, 3)}


def within(drop_pp: float, max_drop_pp: float) -> bool:
    """The report's rule: a drop equal to the budget (to rounding) is within it."""
    return drop_pp <= max_drop_pp + TOLERANCE_PP


def drop_pp(reference: float, accuracy: float) -> float:
    return 100.0 * (reference - accuracy)


def smallest_within(passes: Callable[[int], bool], count: int) -> Optional[int]:
    """Doubling k = 1, 2, 4 ... (capped at `count`) until `passes(k)`, then bisection between the last k that
    failed and the first that passed; None when even `count` fails. Each k is asked at most once."""
    if count < 1:
        return None
    failed, k = 0, 1
    while not passes(k):
        if k >= count:
            return None
        failed, k = k, min(2 * k, count)
    low, high = failed + 1, k
    while low < high:
        middle = (low + high) // 2
        if passes(middle):
            high = middle
        else:
            low = middle + 1
    return high


def fewest_float(measure: Callable[[Tuple[str, ...]], Trial], ranking: Sequence[str], max_drop_pp: float, *,
                 start: Sequence[str] = (), limit: Optional[int] = None, first: Optional[Trial] = None,
                 progress: Optional[Progress] = None) -> Tuple[Optional[Trial], List[Trial]]:
    """The first trial within `max_drop_pp` among `start` + the next k of `ranking` (k = 0, then the smallest k
    `smallest_within` finds, `len(start) + k <= limit`), and every trial measured, in order. `first` is the
    k = 0 trial when it is already known. None when no count up to the limit is within the budget. Each trial
    is a `progress` stage ("int8 trial: N float layers") and a step of its "int8 budget trials" bar."""
    progress = progress if progress is not None else disabled()
    start = tuple(dict.fromkeys(start))
    rest = [name for name in ranking if name not in start]
    trials: Dict[int, Trial] = {} if first is None else {0: first}
    most = min(len(rest), max((len(ranking) if limit is None else limit) - len(start), 0))
    with progress.counter(total=None, desc="int8 budget trials", unit="trial") as advance:  # a count: how many
        # trials the doubling and bisection take is known only at the end

        def passes(extra: int) -> bool:
            if extra not in trials:
                layers = start + tuple(rest[:extra])
                with progress.stage(f"int8 trial: {len(layers)} float layers"):
                    trials[extra] = measure(layers)
                advance()
            return within(trials[extra].drop_pp, max_drop_pp)

        if passes(0):
            return trials[0], list(trials.values())
        extra = smallest_within(passes, most)
    return (None if extra is None else trials[extra]), list(trials.values())


def diagnosis_first(ranking: Sequence[str], first: Optional[Dict]) -> Tuple[str, ...]:
    """The ranking with the diagnosis's first departing node (when it is ranked) tried first."""
    node = (first or {}).get("node")
    return tuple(([node] if node in ranking else []) + [name for name in ranking if name != node])


def chosen(trial: Optional[Trial], ranked: int, torch_layers: Dict[str, Optional[str]]) -> Optional[Dict]:
    """The record's "chosen" block: the trial kept, its float layers by ONNX node and torch module."""
    if trial is None:
        return None
    return {"accuracy": round(trial.accuracy, 6), "drop_pp": round(trial.drop_pp, 3),
            "float_layers": list(trial.float_layers),
            "float_layers_torch": [torch_layers.get(layer) for layer in trial.float_layers],
            "float_fraction": round(len(trial.float_layers) / max(ranked, 1), 4), "quantizable_layers": ranked}


def record(*, max_drop_pp: float, full: Trial, reference: float, calibration: Dict, sensitivity: List[Dict],
           sensitivity_method: Optional[str], calibration_search: Sequence[Trial] = (),
           weights_only: Optional[Dict] = None, metric: str = METRIC) -> Dict:
    """The manifest's "mixed_precision" record before the decision (`status`, `chosen`, `search_seconds`)."""
    return {"max_drop_pp": max_drop_pp, "metric": metric, "sensitivity_method": sensitivity_method,
            "full_int8": {"accuracy": round(full.accuracy, 6), "drop_pp": round(full.drop_pp, 3)},
            "chosen": None, "calibration": dict(calibration),
            "calibration_search": [trial.as_dict() for trial in calibration_search],
            "weights_only": weights_only, "sensitivity": list(sensitivity), "reference_accuracy": round(reference, 6)}


class Status:
    FULL_INT8 = "full-int8"
    MIXED = "mixed"
    REFUSED = "refused"

    @staticmethod
    def of(trial: Trial) -> str:
        return Status.MIXED if trial.float_layers else Status.FULL_INT8
