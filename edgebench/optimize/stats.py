"""The device figures the search decides on, read from the agent's results with the agent's own statistics
(`device_agent.stats`: medians with intervals, paired per-round ratios, verdicts); nothing re-derived here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from device_agent import stats
from device_agent.configs import Setting
from edgebench.optimize.space import setting_key

DOMINATED_RATIO = 3.0  # a candidate this much slower than the best is stopped whatever its interval


@dataclass(frozen=True, kw_only=True)
class Config:
    """One measured configuration: a candidate with one setting, its rounds and figures."""

    name: str
    setting: Setting
    rounds_ms: Tuple[float, ...]
    p50_ms: float
    peak_rss_mb: Optional[float]
    accuracy: Optional[Dict]

    @property
    def median_ms(self) -> float:
        return float(np.median(self.rounds_ms))


def configs_of(result: Dict) -> Tuple[List[Config], Dict[str, str]]:
    """The error-free configurations of a result, and the error of each failed artifact (name -> error)."""
    found, errors = [], {}
    for run in result.get("runs", []):
        if run.get("error") or not run.get("rounds_ms"):
            errors[run["artifact"]] = str(run.get("error") or "no rounds measured")
            continue
        setting = Setting(**run["setting"])
        found.append(Config(name=run["artifact"], setting=setting, rounds_ms=tuple(run["rounds_ms"]),
                            p50_ms=float(run["latency_ms"]["p50"]),
                            peak_rss_mb=(run.get("memory") or {}).get("peak_rss_mb"), accuracy=run.get("accuracy")))
    return found, errors


def find(configs: List[Config], name: str, setting: Setting) -> Optional[Config]:
    return next((c for c in configs if c.name == name and setting_key(c.setting) == setting_key(setting)), None)


def best_per_candidate(configs: List[Config]) -> Dict[str, Config]:
    best: Dict[str, Config] = {}
    for config in configs:
        if config.name not in best or config.median_ms < best[config.name].median_ms:
            best[config.name] = config
    return best


def against(reference: Config, other: Config) -> Dict:
    """`other` against `reference` over their paired rounds: ratio above 1 means `other` is slower."""
    ratio = stats.ratio_ci(reference.rounds_ms, other.rounds_ms)
    return {"ratio": round(ratio[0], 4), "ratio_ci95": [round(ratio[1], 4), round(ratio[2], 4)],
            "verdict": stats.verdict(ratio)}


def clearly_slower(comparison: Dict) -> bool:
    """Stopped: its interval lies above the best's (the agent's "slower" verdict) or it is more than 3x slower."""
    return comparison["verdict"] == "slower" or comparison["ratio"] > DOMINATED_RATIO


def interval(config: Config) -> List[float]:
    _, lo, hi = stats.median_ci(config.rounds_ms)
    return [round(lo, 4), round(hi, 4)]
