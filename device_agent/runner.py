"""One bundle on this device: every configuration (artifact x setting) loaded, timed in rounds and scored."""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence

from device_agent import RESULT_SCHEMA_MINOR, RESULT_SCHEMA_VERSION, __version__, stats
from device_agent.backends.base import FORMAT_BACKENDS
from device_agent.bundle import Bundle, load_eval
from device_agent.configs import Configuration, Sweep, configurations
from device_agent.device_info import device_facts, temperatures, throttled
from device_agent.errors import AgentError, UsageError
from device_agent.formats import FORMATS
from device_agent.probes import measure_probes
from device_agent.protocol import TimingSettings
from device_agent.rounds import Schedule, measure_all
from device_agent.schema import RESULT_KIND, validate
from device_agent.sensors import wait_for_temperature

TEMPERATURE_RISE_FLAG_C = 10.0
COOLDOWN_TEMPERATURE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class RunOptions:
    sweep: Sweep = Sweep()
    timing: TimingSettings = TimingSettings()
    backend: Optional[str] = None
    artifacts: Optional[Sequence[str]] = None
    eval_limit: Optional[int] = None
    accuracy: bool = True
    keep_samples: bool = False
    affinity: Optional[Sequence[int]] = None
    cooldown_seconds: float = 0.0
    cooldown_temperature_c: Optional[float] = None  # rest until the hottest zone is at or below this instead
    device_name: Optional[str] = None
    rounds: int = 10
    target_ci_pct: Optional[float] = None
    interleave: bool = True
    sustained_seconds: Optional[float] = None
    profile_runs: Optional[int] = None  # None: no per-layer profile
    timeout_seconds: Optional[float] = None  # the watchdog's slack per request (None: rounds.SLACK_SECONDS)

    @property
    def threads(self) -> int:
        """The first thread count of the sweep: the one a result without a sweep was measured with."""
        return self.sweep.threads[0]


def bundle_summary(bundle_path: str, bundle: Optional[Bundle]) -> Dict:
    manifest = bundle.manifest if bundle else {}
    return {"path": os.path.abspath(bundle_path), "manifest_sha256": bundle.manifest_sha256 if bundle else None,
            "model": manifest.get("model"), "eval": manifest.get("eval")}


def new_result(bundle_path: str, options: RunOptions, bundle: Optional[Bundle]) -> Dict:
    device = device_facts(options.device_name)
    return {
        "schema_version": RESULT_SCHEMA_VERSION, "schema_minor": RESULT_SCHEMA_MINOR, "kind": RESULT_KIND,
        "agent_version": __version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "complete": False, "error": None, "emulated": device["emulated"],
        "bundle": bundle_summary(bundle_path, bundle),
        "device": device,
        "settings": settings_of(options),
        "thermal": {"before": temperatures(), "after": None, "throttled": throttled()},
        "runs": [],
    }


def settings_of(options: RunOptions) -> Dict:
    return {"threads": options.threads, "batch_size": 1, "backend": options.backend,
            "affinity": list(options.affinity) if options.affinity else None,
            "cooldown_seconds": options.cooldown_seconds, "eval_limit": options.eval_limit,
            "accuracy": options.accuracy, **asdict(options.timing),
            "rounds": options.rounds, "target_ci_pct": options.target_ci_pct, "interleave": options.interleave,
            "sweep": options.sweep.to_json(), "sustained_seconds": options.sustained_seconds,
            "profile": options.profile_runs is not None, "profile_runs": options.profile_runs,
            "cooldown_temperature_c": options.cooldown_temperature_c, "timeout_seconds": options.timeout_seconds}


def select_artifacts(bundle: Bundle, names: Optional[Sequence[str]]) -> List[Dict]:
    if not names:
        return list(bundle.artifacts)
    known = {a["name"]: a for a in bundle.artifacts}
    known.update({a["file"]: a for a in bundle.artifacts})
    missing = [n for n in names if n not in known]
    if missing:
        raise UsageError(f"--artifacts: '{missing[0]}' is not in the bundle; valid: "
                         f"{', '.join(a['name'] for a in bundle.artifacts)}")
    return [known[n] for n in names]


def blank_run(config: Configuration, options: RunOptions) -> Dict:
    artifact = config.artifact
    return {"artifact": artifact.get("name", artifact.get("file", "?")), "config": config.label,
            "setting": config.setting.to_json(), "file": artifact.get("file"),
            "format": artifact.get("format") if artifact.get("format") in FORMATS else "unknown",
            "precision": str(artifact.get("precision")),
            "backend": options.backend or FORMAT_BACKENDS.get(str(artifact.get("format")), "?"),
            "backend_version": None, "error": None, "file_bytes": artifact.get("bytes"),
            "export_check": artifact.get("check"), "quantization": artifact.get("quantization"),
            "sustained": None, "profile": None}


# Settings that change what a run measures: a resumed result must have been measured with the same ones.
RESUME_SETTINGS = ("threads", "batch_size", "backend", "affinity", "eval_limit", "accuracy", "warmup_runs",
                   "warmup_seconds", "min_runs", "min_seconds", "max_seconds", "rounds", "target_ci_pct",
                   "interleave", "sweep", "sustained_seconds", "profile_runs")


def resume_from(previous: Dict, bundle: Bundle, result: Dict, source: str = "the result to resume") -> List[Dict]:
    """The error-free runs of an earlier result of this same bundle, device and settings, marked `resumed`; those
    still `partial` (cut off in their rounds) are for `run_bundle` to measure again."""
    try:
        validate(previous, "result", source)
    except AgentError as exc:
        raise UsageError(f"--resume {exc}") from None
    theirs = previous.get("bundle", {}).get("manifest_sha256")
    if theirs != bundle.manifest_sha256:
        raise UsageError(f"--resume {source} was measured on another bundle: manifest sha256 {str(theirs)[:12]}... "
                         f"there, {bundle.manifest_sha256[:12]}... here; start a new result")
    for key in ("name", "machine"):
        if previous["device"].get(key) != result["device"].get(key):
            raise UsageError(f"--resume {source} was measured on device {key} {previous['device'].get(key)!r}, "
                             f"this is {result['device'].get(key)!r}; start a new result")
    missing = object()
    for key in RESUME_SETTINGS:
        theirs, ours = previous["settings"].get(key, missing), result["settings"][key]
        if theirs != ours:
            shown = "not recorded" if theirs is missing else json.dumps(theirs)
            raise UsageError(f"--resume {source} was measured with {key} {shown}, this run asks for "
                             f"{json.dumps(ours)}: give the same settings, or start a new result")
    return [dict(run, resumed=True) for run in previous.get("runs", []) if not run.get("error")]


def run_key(run: Dict) -> str:
    """What identifies a run within a result: its configuration (a result older than configurations: its
    artifact, the label such a configuration has today)."""
    return run.get("config") or run["artifact"]


class Cooldown:
    """A rest before a measured block: a fixed time, or until the hottest zone is at or below a temperature
    (bounded); each rest is recorded in the result's `cooldowns`."""

    def __init__(self, options: RunOptions, result: Dict, progress: Callable[[str], None]):
        self.options, self.result, self.progress = options, result, progress

    def __call__(self, before: str) -> None:
        if self.options.cooldown_temperature_c is not None:
            target = self.options.cooldown_temperature_c
            self.progress(f"cooling down {before}: waiting for {target:g} C (at most "
                          f"{COOLDOWN_TEMPERATURE_TIMEOUT_S:g} s) ...")
            record = dict(wait_for_temperature(target, COOLDOWN_TEMPERATURE_TIMEOUT_S), before=before)
        elif self.options.cooldown_seconds > 0:
            tick = time.monotonic()
            time.sleep(self.options.cooldown_seconds)
            record = {"before": before, "seconds": round(time.monotonic() - tick, 3)}
        else:
            return
        self.result.setdefault("cooldowns", []).append(record)


def run_bundle(bundle: Bundle, options: RunOptions, result: Dict,
               progress: Callable[[str], None] = lambda line: None,
               save: Callable[[Dict], None] = lambda result: None) -> Dict:
    """Fills `result` in place and saves it after every round and each finished configuration, so an interruption
    or a dropped connection leaves every configuration's rounds so far (marked incomplete); `result["runs"]` may
    hold resumed runs already: the finished ones are kept, the partial ones measured again from the start (the
    configurations of an interleaved comparison must share their rounds). Each configuration is measured in its
    own child process."""
    again = [run_key(run) for run in result["runs"] if run.get("partial")]
    result["runs"] = [run for run in result["runs"] if not run.get("partial")]
    done = {run_key(run) for run in result["runs"]}
    chosen = configurations(select_artifacts(bundle, options.artifacts), options.sweep)
    configs = [c for c in chosen if c.label not in done]
    if done or again:
        redo = f" ({len(again)} of them cut off in their rounds: measured again from the first round)" if again else ""
        progress(f"resuming: {len(done)} configuration(s) already measured, {len(configs)} to go{redo}")
    if options.affinity:
        os.sched_setaffinity(0, set(options.affinity))  # inherited by each measuring process
    load_eval(bundle, options.eval_limit)  # an unusable evaluation set stops the run before any artifact
    if "probes" not in result["device"] and options.backend != "null":  # the device's peak, once per run
        formats = sorted({config.artifact["format"] for config in chosen})
        result["device"]["probes"] = measure_probes(bundle.path, bundle.manifest, options.threads, formats, progress,
                                                    options.timing.min_runs, options.timing.min_seconds)
    save(result)
    schedule = Schedule(bundle, options, result, progress, save, blank_run, Cooldown(options, result, progress))
    measure_all(schedule, configs)
    result["comparison"] = comparison_of(result["runs"])
    result["thermal"]["after"] = temperatures()
    result["thermal"]["flags"] = thermal_flags(result["thermal"])
    result["complete"] = True
    return result


def comparison_of(runs: Sequence[Dict]) -> Optional[Dict]:
    """`stats.rank` over the error-free runs that have rounds (two or more), else None."""
    ranked = [run for run in runs if not run.get("error") and run.get("rounds_ms")]
    if len(ranked) < 2:
        return None
    return stats.rank([dict(run, config=run_key(run)) for run in ranked])


def thermal_flags(thermal: Dict) -> List[str]:
    flags = []
    if thermal.get("throttled") and thermal["throttled"].get("any"):
        flags.append(f"throttling reported by the firmware ({thermal['throttled']['raw']})")
    before, after = thermal.get("before") or {}, thermal.get("after") or {}
    for zone, start in before.items():
        if zone in after and after[zone] - start > TEMPERATURE_RISE_FLAG_C:
            flags.append(f"{zone} rose {after[zone] - start:.1f} C during the run")
    return flags
