"""A simulated device: the measurement interface driven by a table of true latencies with noise.

It answers what the agent would (the agent's own option parser and configurations, results in the agent's
format, per-round medians with shared drift and per-configuration noise) and charges the device seconds the
agent's timing rules would take. The search's tests and `bench/optimize.py` run the search against it, where
the true optimum is known.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from device_agent.cli import build_parser, options_from_args
from device_agent.configs import Setting, configurations
from device_agent.schema import RESULT_KIND
from edgebench.devices.measure import Measurement, MeasureSettings
from edgebench.optimize.space import setting_key


@functools.lru_cache(maxsize=64)
def _options(agent_args: Tuple[str, ...]):
    """The agent's own parser and rules read the options, as on a device."""
    return options_from_args(_parser().parse_args(["run", "BUNDLE", *agent_args]))


@functools.lru_cache(maxsize=1)
def _parser():
    return build_parser()


@dataclass(frozen=True, kw_only=True)
class SimArtifact:
    name: str
    format: str
    latencies_ms: Dict[Tuple, float]  # setting_key -> true median latency
    correct: int = 450
    count: int = 500
    crashes: bool = False
    peak_rss_mb: float = 50.0


@dataclass(kw_only=True)
class SimulatedDevice:
    artifacts: Dict[str, SimArtifact]
    seed: int = 0
    noise: float = 0.03  # per configuration and round (log-normal sigma)
    drift: float = 0.05  # shared by every configuration of a round
    name: str = "simulated"
    spent: float = 0.0
    calls: int = 0
    rng: np.random.Generator = field(init=False)

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)

    def fingerprint(self) -> Dict:
        """What the device is (its latency table), not how a run's noise falls (the seed)."""
        table = sorted((a.name, sorted(a.latencies_ms.items(), key=str)) for a in self.artifacts.values())
        return {"name": self.name, "machine": "simulated",
                "table_sha256": hashlib.sha256(repr(table).encode()).hexdigest()[:16]}

    def measure(self, bundle: Path, settings: MeasureSettings, log: Callable[[str], None],
                keep_failed: bool) -> Measurement:
        options = _options(tuple(settings.agent_args))
        names = settings.artifacts or tuple(self.artifacts)
        chosen = [{"name": n, "format": self.artifacts[n].format, "precision": "?", "file": n} for n in names]
        configs = configurations(chosen, options.sweep)
        drift = np.exp(self.rng.normal(0.0, self.drift, options.rounds))
        runs, seconds = [], 0.0
        for config in configs:
            run, cost = self._run(config.label, self.artifacts[config.artifact["name"]], config.setting, options,
                                  drift)
            runs.append(run)
            seconds += cost
        seconds *= float(self.rng.uniform(0.9, 1.1))
        self.spent += seconds
        self.calls += 1
        result = {"kind": RESULT_KIND, "complete": True, "device": self.fingerprint(), "runs": runs}
        return Measurement(path=None, result=result, device_seconds=round(seconds, 3))

    def _run(self, label: str, artifact: SimArtifact, setting: Setting, options, drift) -> Tuple[Dict, float]:
        run = {"artifact": artifact.name, "config": label, "setting": setting.to_json(), "format": artifact.format,
               "error": None}
        timing = options.timing
        if artifact.crashes:
            return dict(run, error="the measuring process died (signal 11)"), 1.0
        true_ms = artifact.latencies_ms[setting_key(setting)]
        rounds = true_ms * drift * np.exp(self.rng.normal(0.0, self.noise, options.rounds))
        run.update(rounds_ms=[round(float(r), 5) for r in rounds],
                   latency_ms={"p50": round(float(np.median(rounds)), 5)},
                   memory={"peak_rss_mb": artifact.peak_rss_mb},
                   accuracy=({"top1": artifact.correct / artifact.count, "correct": artifact.correct,
                              "count": artifact.count} if options.accuracy else None))
        timed = max(timing.min_seconds, timing.min_runs * true_ms / 1000.0) + timing.warmup_runs * true_ms / 1000.0
        accuracy_s = artifact.count * true_ms / 1000.0 if options.accuracy else 0.0
        return run, 1.0 + timed + accuracy_s


def random_table(seed: int, space, names_formats, *, spread: float = 3.0,
                 own_effect: float = 0.04) -> Dict[str, SimArtifact]:
    """A random but plausible latency table: each candidate a base latency; each runtime setting an effect shared
    by the format's candidates (threads and graph optimisation act on the runtime) times a small effect of the
    candidate's own (for the search's tests and benchmark)."""
    rng = np.random.default_rng(10_000 + seed)
    runtime = {fmt: {setting_key(s): float(np.exp(rng.normal(0.0, 0.15))) for s in space.settings_for(fmt)}
               for fmt in dict.fromkeys(fmt for _, fmt in names_formats)}
    table = {}
    for name, fmt in names_formats:
        base = float(np.exp(rng.uniform(math.log(2.0), math.log(2.0 * spread))))
        effects = {key: shared * float(np.exp(rng.normal(0.0, own_effect))) for key, shared in runtime[fmt].items()}
        table[name] = SimArtifact(name=name, format=fmt, latencies_ms={k: base * e for k, e in effects.items()})
    return table


def true_best(table: Dict[str, SimArtifact], allowed: Optional[set] = None) -> Tuple[str, Tuple, float]:
    """(name, setting key, latency) of the truly fastest configuration among `allowed` candidates."""
    rows = [(a.name, key, ms) for a in table.values() if allowed is None or a.name in allowed
            for key, ms in a.latencies_ms.items()]
    return min(rows, key=lambda row: row[2])
