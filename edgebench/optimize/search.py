"""The device stages, cheapest first: screening with early stopping, a settings sweep on the few best, and a long
confirmation of the winner, the runner-up and the fp32 baseline; every candidate ends with one reason.

Entries are the candidates' records (plain dicts, as written to optimize.json); `Search` fills their `device`
figures and `reason`, spending device seconds through the `Ledger` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from device_agent.configs import Setting, Sweep
from edgebench.errors import EdgebenchError, WriteError
from edgebench.optimize import stats as figures
from edgebench.optimize.ledger import CONFIRMATION, SCREENING, SWEEP, UNKNOWN_LATENCY_MS, Ledger, Protocol
from edgebench.optimize.space import Space, setting_key

REASONS = ("winner", "accepted", "accuracy-drop", "export-refused", "runtime-crash", "device-error", "dominated",
           "indistinguishable", "duplicate", "budget-exhausted")
SCREENING_LONG = Protocol(name="screening", rounds=6, min_runs=60, min_seconds=1.5)
IMAGES_PER_MISMATCH = 500  # the device's accuracy must match the host's within one image per 500


def configurations_per(fmt: str, settings: List[Setting]) -> int:
    """How many configurations the agent measures for an artifact of `fmt` given these settings (it measures
    every combination of the option values that apply to the format)."""
    def values(name: str) -> tuple:
        return tuple(dict.fromkeys(getattr(s, name) for s in settings if getattr(s, name) is not None)) or (None,)

    sweep = Sweep(threads=values("threads"), xnnpack=values("xnnpack"),
                  ort_graph_optimization=values("ort_graph_optimization"), ort_execution_mode=("sequential",))
    return len(sweep.settings_for(fmt))


@dataclass(frozen=True, kw_only=True)
class SearchSpec:
    objective: str = "latency"
    max_drop: float = 1.0
    stop_first: bool = False
    top_k: int = 1  # candidates of each format that reach the settings sweep (the others inherit its setting)


@dataclass(frozen=True, kw_only=True)
class Decision:
    winner: Optional[str]
    setting: Optional[Setting]
    confirmed: bool
    separated: bool
    speedup: Optional[Dict]  # the winner against fp32: fp32 / winner with its interval
    note: str  # how the answer was reached, in one sentence


class Search:
    def __init__(self, *, entries: Dict[str, Dict], space: Space, spec: SearchSpec, ledger: Ledger,
                 log: Callable[[str], None] = lambda line: None):
        self.entries, self.space, self.spec, self.ledger, self.log = entries, space, spec, ledger, log
        self.best: Dict[str, figures.Config] = {}  # candidate -> its fastest configuration of its latest run
        self.measured: Dict[str, List[figures.Config]] = {}  # candidate -> every configuration of its latest run
        self.notes: List[str] = []

    # ---- helpers ------------------------------------------------------------------------------------
    def alive(self) -> List[str]:
        return [name for name, entry in self.entries.items() if entry["reason"] is None]

    def mark(self, name: str, reason: str, detail: str = "") -> None:
        assert reason in REASONS, reason
        if self.entries[name]["reason"] is None:
            self.entries[name].update(reason=reason, detail=detail)

    def latency_guess(self, name: str) -> float:
        known = self.best.get(name)
        return known.median_ms if known else UNKNOWN_LATENCY_MS

    def rank_key(self, name: str):
        entry, best = self.entries[name], self.best.get(name)
        latency = best.median_ms if best else math.inf
        if self.spec.objective == "size":
            return (entry["bytes"], latency)
        if self.spec.objective == "memory":
            return ((best.peak_rss_mb if best and best.peak_rss_mb is not None else math.inf), latency)
        return (latency, entry["bytes"])

    def measure(self, protocol: Protocol, names: List[str], settings: List[Setting]) -> Optional[List]:
        """The configurations measured; None when the measurement did not fit (or the device failed: those
        candidates are marked device-error, and the error is raised on for the caller to stop)."""
        guesses = [self.latency_guess(n) for n in names
                   for _ in range(configurations_per(self.entries[n]["format"], settings))]
        try:
            result = self.ledger.run(protocol, names, settings, guesses)
        except WriteError:  # the host could not keep the result: not the device's fault
            raise
        except EdgebenchError as exc:
            for name in names:
                self.mark(name, "device-error", str(exc))
            raise
        if result is None:
            return None
        configs, errors = figures.configs_of(result)
        for name, error in errors.items():
            self.mark(name, "runtime-crash", error)
        # each candidate's fastest configuration of this run replaces what earlier runs found: medians of
        # separate runs are not comparable (drift between runs), the later run measures what matters now
        self.best.update(figures.best_per_candidate(configs))
        for name in {c.name for c in configs}:
            self.measured[name] = [c for c in configs if c.name == name]
        return configs

    def record(self, stage: str, config: figures.Config, extra: Optional[Dict] = None) -> None:
        self.entries[config.name].setdefault("device", {})[stage] = {
            "setting": config.setting.label(), "p50_ms": round(config.p50_ms, 4),
            "median_of_rounds_ms": round(config.median_ms, 4), "ci95_ms": figures.interval(config),
            "peak_rss_mb": config.peak_rss_mb, **(extra or {})}

    # ---- stages -------------------------------------------------------------------------------------
    def run(self) -> Decision:
        self.screening()
        if self.spec.stop_first:
            return self.stop_first()
        self.sweep()
        return self.confirmation()

    def screening(self) -> None:
        for number, protocol in enumerate((SCREENING, SCREENING_LONG)):
            pool = self.alive()
            per_format = [sum(self.entries[n]["format"] == fmt for n in pool) for fmt in self.space.formats]
            if number and max(per_format, default=0) <= self.spec.top_k + 2:
                return  # the sweep takes the best of each runtime, the confirmation the best two: no narrowing needed
            formats = dict.fromkeys(self.entries[n]["format"] for n in pool)
            both = [s for fmt in formats for s in self.space.screening_settings(fmt)]
            configs = self.measure(protocol, pool, both)
            if configs is None and len(both) > len(formats):  # a tight budget: the most threads only
                configs = self.measure(protocol, pool, [self.space.screening_setting(fmt) for fmt in formats])
            if configs is None:
                if number == 0:
                    for name in pool:
                        self.mark(name, "budget-exhausted", "screening did not fit in the device budget")
                return
            self.judge_screening(f"screening-{number + 1}", configs)

    def judge_screening(self, stage: str, configs: List[figures.Config]) -> None:
        """Each candidate against the fastest of its own runtime at each screened setting (formats are compared
        only once each has its best setting, after the sweep); it is stopped only when it is clearly slower at
        every one of them: a small model can lose at the most threads and win at one."""
        by_name: Dict[str, List] = {}
        for config in configs:
            fmt = self.entries[config.name]["format"]
            fastest = min((c for c in configs if self.entries[c.name]["format"] == fmt and c.setting == config.setting),
                          key=lambda c: c.median_ms)
            by_name.setdefault(config.name, []).append((config, fastest, figures.against(fastest, config)))
        for name, checks in by_name.items():
            config, fastest, comparison = min(checks, key=lambda check: check[0].median_ms)  # its best setting
            self.record(stage, config, {"against_fastest": comparison, "settings": {
                c.setting.label(): {"against": f.name, **cmp} for c, f, cmp in checks}})
            if self.spec.objective == "latency" and all(figures.clearly_slower(cmp) for _, _, cmp in checks):
                closest = min(checks, key=lambda check: check[2]["ratio"])
                self.mark(name, "dominated", f"{closest[2]['ratio']:.2f}x the fastest {closest[2]['ratio_ci95']} in "
                          f"screening ({closest[1].name}, {closest[0].setting.label()}; slower at every setting "
                          "screened)")

    def sweep(self) -> None:
        alive = sorted(self.alive(), key=self.rank_key)
        top = [n for fmt in self.space.formats for n in [m for m in alive if self.entries[m]["format"] == fmt]
               [:self.spec.top_k]]
        settings = [s for n in top for s in self.space.settings_for(self.entries[n]["format"])]
        if not top or all(len(self.space.settings_for(self.entries[n]["format"])) == 1 for n in top):
            return
        configs = self.measure(SWEEP, top, settings)
        if configs is None:
            self.notes.append("the settings sweep did not fit in the device budget")
            return
        for config in configs:
            self.record(f"sweep {config.setting.label()}", config)

    def confirmation(self) -> Decision:
        ranked = sorted([n for n in self.alive() if n in self.best], key=self.rank_key)
        if not ranked:
            return self.no_answer()
        reference = next((n for n, e in self.entries.items() if e.get("is_reference")), None)
        chosen = list(dict.fromkeys(ranked[:2] + ([reference] if reference in self.best else [])))
        settings = {n: self.best[n].setting for n in chosen}
        if len(ranked) > 1:  # the runner-up on the winner's thread count: half the combinations to measure
            settings[ranked[1]] = self.aligned(ranked[1], settings[ranked[0]])
        if reference in settings and reference not in ranked[:2]:
            settings[reference] = self.baseline_setting([settings[n] for n in ranked[:2]])
        configs = self.measure(CONFIRMATION, chosen, list(settings.values()))
        if configs is None:
            self.notes.append("the confirmation did not fit in the device budget: the answer rests on the "
                              "shorter runs")
            return self.decide(ranked, {n: self.best[n] for n in ranked}, confirmed=False)
        confirmed = {n: figures.find(configs, n, settings[n]) for n in chosen}
        confirmed = {n: c for n, c in confirmed.items() if c is not None and self.device_accuracy_ok(n, c)}
        for name, config in confirmed.items():
            self.record("confirmation", config)
        return self.decide([n for n in ranked if n in confirmed], confirmed, confirmed=True)

    def aligned(self, name: str, leader: Setting) -> Setting:
        """The fastest setting of `name` measured with the leader's thread count; else, unswept, the leader's own
        setting for its runtime (runtime settings act alike on one runtime's candidates) at the leader's threads."""
        same = [c for c in self.measured.get(name, []) if c.setting.threads == leader.threads]
        if same:
            return min(same, key=lambda c: c.median_ms).setting
        if self.entries[name]["format"] == ("onnx" if leader.ort_graph_optimization is not None else "tflite"):
            return leader
        default = self.space.screening_setting(self.entries[name]["format"])
        return Setting(threads=leader.threads, xnnpack=default.xnnpack,
                       ort_graph_optimization=default.ort_graph_optimization,
                       ort_execution_mode=default.ort_execution_mode)

    def baseline_setting(self, leaders: List[Setting]) -> Setting:
        """fp32 in the confirmation runs with the leaders' ONNX Runtime setting (the winner's first): compared
        on equal settings, and no extra combinations for the agent to measure."""
        onnx = [s for s in leaders if s.ort_graph_optimization is not None]
        if onnx:
            return onnx[0]
        return Setting(threads=leaders[0].threads, ort_graph_optimization="all", ort_execution_mode="sequential")

    def device_accuracy_ok(self, name: str, config: figures.Config) -> bool:
        entry, measured = self.entries[name], config.accuracy
        host = entry["host"]
        if not measured or host.get("accuracy") is None:
            return True
        count = int(measured["count"])
        host_correct = round(host["accuracy"] * count / 100.0)
        allowed = max(1, math.ceil(count / IMAGES_PER_MISMATCH))
        device_drop = round(host["reference_accuracy"] - 100.0 * measured["correct"] / count, 4)
        entry["device_accuracy"] = {"top1": round(100.0 * measured["correct"] / count, 4), "count": count,
                                    "host_correct": host_correct, "device_correct": measured["correct"],
                                    "allowed_difference": allowed, "drop_pp": device_drop}
        if abs(measured["correct"] - host_correct) > allowed:
            self.mark(name, "accuracy-drop", f"on the device {measured['correct']}/{count} correct, on the host "
                      f"{host_correct}: more than {allowed} image(s) apart")
            return False
        if device_drop > self.spec.max_drop + 1e-9 and not entry.get("is_reference"):
            self.mark(name, "accuracy-drop", f"-{device_drop:g} pp on the device (budget {self.spec.max_drop:g})")
            return False
        return True

    def stop_first(self) -> Decision:
        reference = next((n for n, e in self.entries.items() if e.get("is_reference")), None)
        base = self.best.get(reference) if reference else None
        for name in self.alive():
            if name != reference and base is not None and name in self.best:
                if figures.against(base, self.best[name])["verdict"] == "faster":
                    self.notes.append(f"--stop first: {name} is the first candidate that beats fp32")
                    return self.decide([name], {name: self.best[name], reference: base}, confirmed=False)
        return self.confirmation()

    # ---- the answer ---------------------------------------------------------------------------------
    def decide(self, ranked: List[str], configs: Dict[str, figures.Config], confirmed: bool) -> Decision:
        if not ranked:
            return self.no_answer()
        leader = configs[ranked[0]]
        group = [ranked[0]]
        for name in ranked[1:]:
            comparison = figures.against(leader, configs[name])
            self.entries[name]["against_winner"] = comparison
            if self.spec.objective == "latency" and comparison["verdict"] != "slower":
                group.append(name)
            else:
                self.mark(name, "dominated", f"{comparison['ratio']:.2f}x the winner {comparison['ratio_ci95']}")
        winner = min(group, key=lambda n: self.entries[n]["bytes"]) if len(group) > 1 else group[0]
        for name in group:
            if name != winner:
                self.mark(name, "indistinguishable", f"cannot be told apart from {winner} on the device; "
                          f"{winner} is smaller")
        self.mark(winner, "winner")
        note = self.note(winner, group, confirmed)
        return Decision(winner=winner, setting=configs[winner].setting, confirmed=confirmed,
                        separated=len(group) == 1, speedup=self.speedup(winner, configs), note=note)

    def speedup(self, winner: str, configs: Dict[str, figures.Config]) -> Optional[Dict]:
        reference = next((n for n, e in self.entries.items() if e.get("is_reference")), None)
        if reference is None or reference not in configs or reference == winner:
            return None
        comparison = figures.against(configs[winner], configs[reference])
        return {"against": reference, **comparison}

    def note(self, winner: str, group: List[str], confirmed: bool) -> str:
        parts = list(self.notes)
        if len(group) > 1:
            parts.append(f"{', '.join(group)} cannot be told apart on the device: {winner} chosen as the smallest")
        if not confirmed:
            parts.append("not confirmed by the long run")
        others = [n for n, e in self.entries.items() if not e.get("is_reference")]
        if self.entries[winner].get("is_reference") and all(self.entries[n]["reason"] in
                                                             ("accuracy-drop", "export-refused") for n in others):
            parts.append(f"no candidate but fp32 meets the {self.spec.max_drop:g} pp budget: fp32 is the answer")
        return "; ".join(parts)

    def no_answer(self) -> Decision:
        return Decision(winner=None, setting=None, confirmed=False, separated=False, speedup=None,
                        note="; ".join(self.notes + ["no candidate was measured on the device"]))

    def best_so_far(self) -> Decision:
        """After an interruption: the best candidate measured so far, by its latest figures, unconfirmed."""
        measured = [n for n in self.alive() if n in self.best]
        if not measured:
            return self.no_answer()
        winner = min(measured, key=self.rank_key)
        self.mark(winner, "winner", "the best measured before the run stopped (not confirmed)")
        return Decision(winner=winner, setting=self.best[winner].setting, confirmed=False, separated=False,
                        speedup=None, note="; ".join(self.notes + ["the run stopped: the best measured so far"]))

    def close(self, stopped: Optional[str] = None) -> None:
        """Every candidate gets its one reason: measured and within the budget but not pursued is `accepted`,
        never measured is `budget-exhausted` (with why: the budget, or the run stopping)."""
        for name in self.alive():
            if name in self.best:
                self.mark(name, "accepted", "within the budget, measured, not the best")
            else:
                self.mark(name, "budget-exhausted", f"not measured: {stopped}" if stopped else
                          "not measured within the device budget")
