"""The parent's side of a measurement: one `_measure` child per configuration, timed in rounds.

Interleaved (the default): the children are started one after another, so each cold start is measured
without another child at work, and all stay alive, idle ones blocked on their stdin. Then R rounds; in each,
every configuration runs its share of the timing budget (`min_runs/R` runs and `min_seconds/R` seconds, at
least one run), the order rotated by one each round, so drift, heat and neighbours hit all of them alike.
`--target-ci` adds rounds while a configuration's p50 interval is wider than asked, within `--max-seconds`
of timed time per configuration. Not interleaved: each configuration in turn gets its child and all its
rounds, then the child is closed (for devices short of memory).

After the rounds each configuration, in turn: its memory, its accuracy (once per artifact), its profile and
its sustained run, then its run is finished.

The result is saved after every round: each configuration's run then carries the rounds so far, its latency
summary over the samples so far and `partial` (`rounds_done`, `rounds_planned`) until its run is finished, so an
interruption leaves every configuration's completed rounds, marked incomplete (`--resume` measures such runs
again: an interleaved comparison needs the same rounds).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from device_agent.bundle import Bundle
from device_agent.configs import Configuration
from device_agent.errors import AgentError
from device_agent.isolation import Child, ChildFailed, ChildTimedOut
from device_agent.protocol import summarize
from device_agent.stats import median
from device_agent import stats
from device_agent.device_info import temperatures
from device_agent.device_info import throttled
from device_agent.sensors import cpu_state

# The watchdog: a request may take twice the time its work is budgeted, plus this (`--timeout` sets it); a child
# that passes that deadline is taken for hung, and its process group is killed.
SLACK_SECONDS = 300.0
STAGES = {"load": "loading the model", "time": "a timing round", "memory": "the memory reading",
          "accuracy": "the accuracy pass", "profile": "the profile", "sustained": "the sustained run"}
# What a run holds from its rounds while they go on: dropped when its configuration fails in them.
ROUND_FIELDS = ("partial", "latency_ms", "rounds_ms", "samples_ms", "stability")


@dataclass
class Measured:
    """One configuration while it is measured: its child, its rounds so far, or the error that ended it."""

    config: Configuration
    run: Dict
    child: Optional[Child] = None
    rounds_ms: List[float] = field(default_factory=list)
    samples_ns: List[int] = field(default_factory=list)
    finishing: bool = False  # its rounds are over: a failure now keeps the latency measured in them

    @property
    def alive(self) -> bool:
        return self.child is not None and not self.run["error"]

    def fail(self, exc: AgentError, stage: str = "") -> None:
        for key in ROUND_FIELDS if not self.finishing else ("partial",):
            self.run.pop(key, None)
        if isinstance(exc, ChildTimedOut):
            where = f" ({STAGES.get(stage, stage)})" if stage else ""
            self.run["error"] = (f"timed out after {exc.seconds:g} s{where}: the measuring process gave no answer "
                                 "and was killed with its process group")
        elif isinstance(exc, ChildFailed):
            crashed = " (a native crash in the runtime or the model)" if "signal" in str(exc) else ""
            self.run["error"] = f"the measuring process {exc}{crashed}"
        else:
            self.run["error"] = str(exc)
        self.close()

    def close(self) -> None:
        if self.child is not None:
            self.child.close()
            self.child = None

    def ask(self, message: Dict, timeout: Optional[float] = None) -> Optional[Dict]:
        """The child's answer, or None when the request cost this configuration (the run says why)."""
        try:
            return self.child.request(message, timeout)
        except AgentError as exc:
            self.fail(exc, message.get("cmd", ""))
            return None


def _stats():
    return stats


def round_budget(timing, rounds: int) -> Dict:
    return {"min_runs": max(1, math.ceil(timing.min_runs / rounds)), "min_seconds": timing.min_seconds / rounds,
            "max_seconds": timing.max_seconds / rounds}


class Schedule:
    """Drives the children of one run; `result["runs"]` holds the runs kept from before, then the configurations
    measured so far (finished, failed, or partial with their rounds so far); `save` is called after each round
    and each finished configuration."""

    def __init__(self, bundle: Bundle, options, result: Dict, progress: Callable[[str], None],
                 save: Callable[[Dict], None], blank_run: Callable, rest: Callable[[str], None]):
        self.bundle, self.options, self.result = bundle, options, result
        self.progress, self.save, self.blank_run, self.rest = progress, save, blank_run, rest
        self.budget = round_budget(options.timing, options.rounds)
        self.kept: List[Dict] = list(result["runs"])  # resumed runs, then each finished one when not interleaved
        self.accuracy: Dict[int, Dict] = {}  # artifact index -> its accuracy and the configuration that measured it
        self.order: List[List[str]] = result.setdefault("schedule", {"interleaved": options.interleave,
                                                                     "rounds": 0, "order": []})["order"]
        self.top_frequency_mhz: Optional[float] = None  # the highest CPU frequency seen after a round so far
        self.frequency_drop: Optional[float] = None  # below that, after the latest round

    # -- one configuration ------------------------------------------------------------------------------------
    def deadline(self, work_seconds: float = 0.0) -> float:
        """Seconds a request whose work is budgeted at `work_seconds` may take before its child is killed."""
        slack = SLACK_SECONDS if self.options.timeout_seconds is None else self.options.timeout_seconds
        return round(slack + 2 * work_seconds, 3)

    def _scoring_seconds(self, measured: Measured, passes: int) -> float:
        """A pass over `passes` inputs at the rounds' median latency (0 before any round)."""
        median_ms = median(measured.rounds_ms) if measured.rounds_ms else 0.0
        return passes * median_ms / 1e3

    def configuration(self, config: Configuration) -> Measured:
        return Measured(config=config, run=self.blank_run(config, self.options))

    def start(self, measured: Measured, position: str) -> None:
        """The configuration's child started and its model loaded: the cold start."""
        config = measured.config
        problem = self.bundle.problems.get(config.artifact["file"])
        if problem:
            measured.run["error"] = problem
            self.progress(f"{position} {config.label}: error: {problem}")
            return
        measured.child = Child()
        request = {"cmd": "load", "bundle": self.bundle.path, "manifest_sha256": self.bundle.manifest_sha256,
                   "artifact_index": self.bundle.artifacts.index(config.artifact), "backend": self.options.backend,
                   "setting": config.setting.to_json(), "eval_limit": self.options.eval_limit}
        answer = measured.ask(request, self.deadline())
        if answer is None:
            self.progress(f"{position} {config.label}: error: {measured.run['error']}")
            return
        whole = round((time.perf_counter_ns() - measured.child.started_ns) / 1e6, 3)
        cold = dict(answer["cold_start_ms"], process_start_to_first_result=whole)
        measured.run.update(backend=answer["backend"], backend_version=answer["backend_version"],
                            delegate=answer["delegate"], load_ms=cold["load"],
                            first_inference_ms=cold["first_inference"],
                            cold_start_ms={key: cold[key] for key in ("process_start_to_first_result", "import",
                                                                      "load", "first_inference")})
        self.progress(f"{position} {config.label}: cold start {whole:.0f} ms (load {cold['load']:.1f} ms, "
                      f"first inference {cold['first_inference']:.1f} ms)")

    def time_once(self, measured: Measured) -> Optional[float]:
        """One round's share for this configuration; the round's median in ms, or None when it failed."""
        request = dict(self.budget, cmd="time")
        work = self.budget["max_seconds"]
        if not measured.rounds_ms:  # warm-up once per child, just before its first timed round
            timing = self.options.timing
            request["warmup"] = {"runs": timing.warmup_runs, "seconds": timing.warmup_seconds,
                                 "max_seconds": timing.max_seconds}
            work += timing.max_seconds
        answer = measured.ask(request, self.deadline(work))
        if answer is None:
            return None
        if "warmup" in answer:
            measured.run["warmup"] = answer["warmup"]
        samples = answer["samples_ns"]
        measured.samples_ns.extend(samples)
        round_ms = round(median(samples) / 1e6, 5)
        measured.rounds_ms.append(round_ms)
        return round_ms

    def finish(self, measured: Measured) -> Dict:
        """The latency summary, then memory, accuracy, profile and sustained run in the configuration's child;
        a later step that fails marks the run failed but keeps what was measured before it. The run stays
        `partial` until all of them are done, so an interruption meanwhile leaves it to be measured again."""
        run, config = measured.run, measured.config
        measured.finishing = True
        if measured.alive:
            self._summarise(measured, self._throttled_now(), self.frequency_drop)
            memory = measured.ask({"cmd": "memory"}, self.deadline())
            if memory is not None:
                run["memory"] = memory
        if measured.alive:
            run["accuracy"] = self._accuracy(measured)
        if measured.alive and self.options.profile_runs:
            limit = self.deadline(self._scoring_seconds(measured, self.options.profile_runs))
            try:
                run["profile"] = measured.child.request({"cmd": "profile", "runs": self.options.profile_runs}, limit)
            except ChildFailed as exc:
                measured.fail(exc, "profile")
            except AgentError as exc:  # the profiler's own failure costs the profile, not the latency
                run["profile"] = {"available": False, "reason": f"the profile failed: {exc}"}
        if measured.alive and self.options.sustained_seconds:
            self.rest(f"before the sustained run of {config.label}")
            self.progress(f"    {config.label}: sustained run of {self.options.sustained_seconds:g} s ...")
            run["sustained"] = measured.ask({"cmd": "sustained", "seconds": self.options.sustained_seconds},
                                            self.deadline(self.options.sustained_seconds))
        measured.close()
        run["temperatures_after"] = temperatures()
        run.pop("partial", None)
        return run

    def _accuracy(self, measured: Measured) -> Optional[Dict]:
        if not self.options.accuracy or measured.run["backend"] == "null":
            return None
        index = self.bundle.artifacts.index(measured.config.artifact)
        if index in self.accuracy:  # measured once per artifact, in its first configuration
            return dict(self.accuracy[index])
        images = self.bundle.manifest["eval"]["count"]
        if self.options.eval_limit:
            images = min(images, self.options.eval_limit)
        answer = measured.ask({"cmd": "accuracy"}, self.deadline(self._scoring_seconds(measured, images)))
        if answer is not None:
            self.accuracy[index] = dict(answer, measured_in=measured.config.label)
        return None if answer is None else dict(self.accuracy[index])

    @staticmethod
    def _throttled_now() -> Optional[bool]:
        firmware = throttled()
        return None if firmware is None else bool(firmware["throttled_now"] or firmware["freq_capped"])

    def _frequency_drop(self) -> Optional[float]:
        """How far the CPU's current frequency is below the highest seen after earlier rounds (0.08 = 8 %); None
        where the device does not tell. Taken right after a round, while the governor still runs at speed."""
        now = cpu_state()["frequency_mhz"]
        if not now:
            return None
        self.top_frequency_mhz = max(self.top_frequency_mhz or now, now)
        return 1.0 - now / self.top_frequency_mhz

    def _summarise(self, measured: Measured, throttled_now: Optional[bool],
                   frequency_drop: Optional[float] = None) -> None:
        stats = _stats()
        run = measured.run
        samples_ms = [s / 1e6 for s in measured.samples_ns]
        latency = summarize(measured.samples_ns)
        latency.update(stats.latency_summary_ci(measured.rounds_ms, samples_ms))
        target = self.options.target_ci_pct
        latency["target_ci_met"] = None if target is None else bool(latency["ci_half_width_pct"] <= target)
        run["latency_ms"] = latency
        run["rounds_ms"] = list(measured.rounds_ms)
        if self.options.keep_samples:
            run["samples_ms"] = [round(s, 5) for s in samples_ms]
        run["stability"] = stats.stability(samples_ms, measured.rounds_ms, throttled=throttled_now,
                                           frequency_drop=frequency_drop)

    def publish(self, group: List[Measured]) -> None:
        """`result["runs"]` brought up to date and saved: the kept runs, then each configuration of `group` with
        something to show; one still in its rounds carries them so far, marked `partial`."""
        measuring = any(m.alive and m.rounds_ms for m in group)
        throttled_now = self._throttled_now() if measuring else None
        if measuring:
            self.frequency_drop = self._frequency_drop()
        shown = []
        for measured in group:
            if measured.alive and measured.rounds_ms and not measured.finishing:
                self._summarise(measured, throttled_now, self.frequency_drop)
                measured.run["partial"] = {"rounds_done": len(measured.rounds_ms),
                                           "rounds_planned": self.options.rounds}
            if measured.run["error"] or measured.rounds_ms:
                shown.append(measured.run)
        self.result["runs"] = self.kept + shown
        self.save(self.result)

    def keep(self, run: Dict) -> None:
        """A finished run of a configuration measured on its own (not interleaved)."""
        self.kept.append(run)
        self.publish([])

    # -- the rounds -------------------------------------------------------------------------------------------
    def rounds(self, group: List[Measured]) -> None:
        """R rounds over `group`, rotated; then more while `--target-ci` is unmet and the time budget lasts."""
        number = 0
        while True:
            live = [m for m in group if m.alive]
            if not live or not self._another(live, number):
                return
            shift = number % len(live)
            order = live[shift:] + live[:shift]
            medians = []
            for measured in order:
                median = self.time_once(measured)
                medians.append(f"{measured.config.label} {'failed' if median is None else f'{median:.3f}'}")
            number += 1
            self.order.append([m.config.label for m in order])
            self.result["schedule"]["rounds"] = len(self.order)
            self.publish(group)
            extra = "" if number <= self.options.rounds else f" (beyond {self.options.rounds}: --target-ci)"
            self.progress(f"round {number}/{max(number, self.options.rounds)}{extra}: {', '.join(medians)} ms")

    def _another(self, live: List[Measured], done: int) -> bool:
        if done < self.options.rounds:
            return True
        target = self.options.target_ci_pct
        if target is None:
            return False
        stats = _stats()
        wide = [m for m in live if stats.latency_summary_ci(
            m.rounds_ms, [s / 1e6 for s in m.samples_ns])["ci_half_width_pct"] > target]
        if not wide:
            return False
        limit_ns = self.options.timing.max_seconds * 1e9
        return all(sum(m.samples_ns) * (1 + 1 / len(m.rounds_ms)) <= limit_ns for m in live)


def measure_all(schedule: Schedule, configs: List[Configuration]) -> None:
    """Every configuration measured, interleaved or one at a time as the options say; children never outlive
    this call (an interruption stops them all)."""
    group: List[Measured] = []
    total = len(configs)
    try:
        if schedule.options.interleave:
            group = [schedule.configuration(config) for config in configs]  # each closed on the way out
            for index, measured in enumerate(group):
                schedule.start(measured, f"[{index + 1}/{total}]")
            if any(m.alive for m in group):
                schedule.rest("before the rounds")
            schedule.rounds(group)
            for measured in group:
                schedule.finish(measured)
                schedule.publish(group)
            return
        for index, config in enumerate(configs):
            if index:
                schedule.rest(f"before {config.label}")
            measured = schedule.configuration(config)
            group = [measured]
            schedule.start(measured, f"[{index + 1}/{total}]")
            schedule.rounds(group)
            schedule.keep(schedule.finish(measured))
            schedule.progress(describe_run(measured.run))
    finally:
        for measured in group:
            measured.close()


def describe_run(run: Dict) -> str:
    label = run.get("config") or run["artifact"]
    if run["error"]:
        return f"    {label}: error: {run['error']}"
    latency = run["latency_ms"]
    accuracy = f", top-1 {100 * run['accuracy']['top1']:.2f} %" if run.get("accuracy") else ""
    interval = ""
    if latency.get("p50_ci95"):
        low, high = latency["p50_ci95"]
        interval = f" [{low:.3f}, {high:.3f}]"
    verdict = f", {run['stability']['verdict']}" if run.get("stability") else ""
    peak = (run.get("memory") or {}).get("peak_rss_mb")
    return (f"    {label} ({run['backend']}): p50 {latency['p50']:.3f} ms{interval}, p90 {latency['p90']:.3f} ms, "
            f"n={latency['n']}{verdict}, peak RSS {peak} MB{accuracy}")


def ranking_line(comparison: Optional[Dict]) -> Optional[str]:
    """`fastest: X; Y indistinguishable (ratio 1.01 [0.98, 1.04])`, from the result's `comparison`."""
    if not comparison or not comparison.get("entries"):
        return None
    parts = [f"fastest: {comparison['reference']}"]
    for entry in comparison["entries"]:
        if entry["config"] == comparison["reference"]:
            continue
        low, high = entry["ratio_ci95"]
        parts.append(f"{entry['config']} {entry['verdict']} (ratio {entry['ratio']:.2f} [{low:.2f}, {high:.2f}])")
    return "; ".join(parts)
