"""Device time: every measurement's cost estimated before it runs, checked against the budget, and looked up in
the cache first (device results keyed by the artifacts' sha256, the device fingerprint, the settings and the
protocol version), so a re-run of the same command costs 0 device seconds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from device_agent.configs import Setting
from edgebench.devices.measure import Device, MeasureSettings, measure
from edgebench.fileio import write_json

PROTOCOL_VERSION = 1
LOAD_SECONDS = 1.0  # a configuration's process start, model load and memory reading, before any is measured
UNKNOWN_LATENCY_MS = 50.0


@dataclass(frozen=True, kw_only=True)
class Protocol:
    """One stage's way of measuring: the agent's rounds and timing, and whether it scores accuracy."""

    name: str
    rounds: int
    min_runs: int
    min_seconds: float
    warmup_runs: int = 3
    accuracy: bool = False

    def agent_args(self, settings: Sequence[Setting]) -> List[str]:
        """The agent's options for these settings: each option's values, in first-seen order (the agent measures
        every combination that applies to each artifact's format)."""
        def values(name: str, show) -> str:
            seen = [show(getattr(s, name)) for s in settings if getattr(s, name) is not None]
            return ",".join(dict.fromkeys(seen))

        args = ["--rounds", str(self.rounds), "--min-runs", str(self.min_runs), "--min-seconds",
                f"{self.min_seconds:g}", "--max-seconds", f"{max(30.0, 4 * self.min_seconds):g}", "--warmup-runs",
                str(self.warmup_runs), "--warmup-seconds", "0.2", "--threads", values("threads", str)]
        xnnpack = values("xnnpack", lambda on: "on" if on else "off")
        levels = values("ort_graph_optimization", str)
        args += (["--xnnpack", xnnpack] if xnnpack else []) + (["--ort-graph-optimization", levels] if levels else [])
        return args + ([] if self.accuracy else ["--no-accuracy"])

    def estimate(self, latencies_ms: Sequence[float], eval_count: int) -> float:
        """Seconds this protocol takes for configurations of these latencies (the agent's own rules: at least
        min_runs and min_seconds of timed runs each, plus warm-up, loading and the accuracy pass)."""
        total = 0.0
        for latency in latencies_ms:
            timed = max(self.min_seconds, self.min_runs * latency / 1000.0) + self.warmup_runs * latency / 1000.0
            total += LOAD_SECONDS + timed + (eval_count * latency / 1000.0 if self.accuracy else 0.0)
        return total


SCREENING = Protocol(name="screening", rounds=6, min_runs=30, min_seconds=0.6)
SWEEP = Protocol(name="sweep", rounds=8, min_runs=40, min_seconds=0.8)
CONFIRMATION = Protocol(name="confirmation", rounds=16, min_runs=240, min_seconds=6.0, accuracy=True)


class Ledger:
    """Spends device seconds within the budget, from the cache where it can."""

    def __init__(self, *, device: Device, bundle: Path, cache: Path, budget_s: float, shas: Dict[str, str],
                 eval_count: int, log: Callable[[str], None], fingerprint: Optional[Dict] = None):
        self.device, self.bundle, self.cache, self.budget_s = device, bundle, cache, budget_s
        self.shas, self.eval_count, self.log = shas, eval_count, log
        self.spent = 0.0
        self.estimated = 0.0  # what the measurements spent so far were estimated at
        self.scale = 1.0
        self.by_stage: Dict[str, float] = {}
        self.cached_hits = 0
        self._fingerprint = fingerprint

    @property
    def left(self) -> float:
        return max(0.0, self.budget_s - self.spent)

    def fingerprint(self) -> Dict:
        if self._fingerprint is None:
            self._fingerprint = self.device.fingerprint()
        return self._fingerprint

    def key(self, names: Sequence[str], args: Sequence[str]) -> str:
        facts = {"protocol": PROTOCOL_VERSION, "artifacts": [[n, self.shas[n]] for n in names], "args": list(args),
                 "device": self.fingerprint()}
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:24]

    def run(self, protocol: Protocol, names: Sequence[str], settings: Sequence[Setting],
            latencies_ms: Sequence[float]) -> Optional[Dict]:
        """The agent's result for these artifacts and settings, or None when its estimate does not fit."""
        args = protocol.agent_args(settings)
        entry = self.cache / f"{self.key(names, args)}.json"
        if entry.is_file():
            self.cached_hits += 1
            return json.loads(entry.read_text(encoding="utf-8"))["result"]
        estimate = protocol.estimate(latencies_ms, self.eval_count) * self.scale
        if estimate > self.left:
            self.log(f"{protocol.name}: {estimate:.0f} s estimated, {self.left:.0f} s of device time left: skipped")
            return None
        self.log(f"{protocol.name}: {len(names)} candidate(s), about {estimate:.0f} s of {self.left:.0f} s left")
        done = measure(self.bundle, self.device, MeasureSettings(agent_args=tuple(args), artifacts=tuple(names),
                                                                 results=self.cache / "results"),
                       log=lambda line: None, keep_failed=True)
        self.spent += done.device_seconds
        self.estimated += estimate / self.scale
        # later estimates learn this device's overhead (process start, imports) from what was spent so far
        self.scale = max(1.0, self.spent / self.estimated) if self.estimated > 0 else 1.0
        self.by_stage[protocol.name] = self.by_stage.get(protocol.name, 0.0) + done.device_seconds
        write_json(entry, {"names": list(names), "args": args, "device_seconds": done.device_seconds,
                           "estimate_seconds": round(estimate, 2), "result": done.result})
        return done.result
