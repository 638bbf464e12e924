"""One bundle on this device: every artifact (or the ones named) loaded, timed and scored."""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from device_agent import RESULT_SCHEMA_MINOR, RESULT_SCHEMA_VERSION, __version__
from device_agent.backends import FORMAT_BACKENDS, backend_for, first_line
from device_agent.bundle import Bundle, load_bundle, load_eval, prepare_inputs, verify_file
from device_agent.device_info import device_facts, temperatures, throttled
from device_agent.errors import AgentError, UsageError
from device_agent.isolation import ChildFailed, call
from device_agent.memory import peak_rss_mb, reset_peak, rss_mb
from device_agent.protocol import TimingSettings, summarize, timed_loop, warm_up
from device_agent.schema import validate

TEMPERATURE_RISE_FLAG_C = 10.0


@dataclass(frozen=True)
class RunOptions:
    threads: int = 1
    timing: TimingSettings = TimingSettings()
    backend: Optional[str] = None
    artifacts: Optional[Sequence[str]] = None
    eval_limit: Optional[int] = None
    accuracy: bool = True
    keep_samples: bool = False
    affinity: Optional[Sequence[int]] = None
    cooldown_seconds: float = 0.0
    device_name: Optional[str] = None


def bundle_summary(bundle_path: str, bundle: Optional[Bundle]) -> Dict:
    manifest = bundle.manifest if bundle else {}
    return {"path": os.path.abspath(bundle_path), "manifest_sha256": bundle.manifest_sha256 if bundle else None,
            "model": manifest.get("model"), "eval": manifest.get("eval")}


def new_result(bundle_path: str, options: RunOptions, bundle: Optional[Bundle]) -> Dict:
    device = device_facts(options.device_name)
    return {
        "schema_version": RESULT_SCHEMA_VERSION, "schema_minor": RESULT_SCHEMA_MINOR, "kind": "edgebench.result",
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
            "accuracy": options.accuracy, **asdict(options.timing)}


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


def blank_run(artifact: Dict, options: RunOptions) -> Dict:
    return {"artifact": artifact.get("name", artifact.get("file", "?")), "file": artifact.get("file"),
            "format": artifact.get("format") if artifact.get("format") in ("onnx", "tflite") else "unknown",
            "precision": str(artifact.get("precision")),
            "backend": options.backend or FORMAT_BACKENDS.get(str(artifact.get("format")), "?"),
            "backend_version": None, "error": None, "file_bytes": artifact.get("bytes"),
            "export_check": artifact.get("check")}


def run_artifact(bundle: Bundle, artifact: Dict, options: RunOptions, images: Optional[np.ndarray],
                 labels: Optional[np.ndarray]) -> Dict:
    run = blank_run(artifact, options)
    backend = None
    try:
        backend = backend_for(str(artifact.get("format")), options.backend)
        run["backend"], run["backend_version"] = backend.name, backend.version()
        path = verify_file(bundle, artifact)
        if images is None:
            raise AgentError("the evaluation set could not be read, so there is no input to run")
        layout = artifact["input"]["layout"]
        inputs = prepare_inputs(images, bundle.manifest["preprocess"], layout)
        gc.collect()
        reset_ok = reset_peak()
        rss_before = rss_mb()
        tick = time.perf_counter_ns()
        backend.load(path, options.threads)
        run["load_ms"] = round((time.perf_counter_ns() - tick) / 1e6, 3)
        run["delegate"] = getattr(backend, "delegate", None)
        rss_loaded = rss_mb()
        _check_shape(backend.input_shape(), inputs.shape[1:], run["artifact"])
        single = backend.prepare(inputs[:1])
        tick = time.perf_counter_ns()
        backend.invoke(single)
        run["first_inference_ms"] = round((time.perf_counter_ns() - tick) / 1e6, 3)
        run["warmup"] = warm_up(lambda: backend.invoke(single), options.timing)
        samples = timed_loop(lambda: backend.invoke(single), options.timing)
        run["latency_ms"] = summarize(samples)
        if options.keep_samples:
            run["samples_ms"] = [round(s / 1e6, 5) for s in samples]
        peak, method = peak_rss_mb(reset_ok)
        run["memory"] = {"rss_before_load_mb": rss_before, "rss_after_load_mb": rss_loaded, "peak_rss_mb": peak,
                         "peak_method": method, "model_file_mb": round(os.path.getsize(path) / 2**20, 4)}
        run["accuracy"] = _accuracy(backend, inputs, labels) if options.accuracy and backend.name != "null" else None
    except AgentError as exc:
        run["error"] = str(exc)
    except Exception as exc:  # a runtime failing mid-run: recorded in the result, never a traceback
        run["error"] = f"{type(exc).__name__}: {first_line(exc)}"
    finally:
        if backend is not None:
            backend.close()
    return run


def _check_shape(model_shape: List[int], input_shape, name: str) -> None:
    if not model_shape:
        return
    expected = [d for d in model_shape[1:]]
    if len(expected) != len(input_shape) or any(e > 0 and e != a for e, a in zip(expected, input_shape)):
        raise AgentError(f"{name} expects input {model_shape}, but the bundle's images give "
                         f"[1, {', '.join(map(str, input_shape))}]: the manifest and model disagree")


def _accuracy(backend, inputs: np.ndarray, labels: np.ndarray) -> Dict:
    """A separate pass over the evaluation set, batched where the model allows it; not timed."""
    step = backend.max_batch or 64
    correct = 0
    for start in range(0, len(inputs), step):
        logits = backend.finish(backend.invoke(backend.prepare(inputs[start:start + step])))
        correct += int((logits.reshape(len(logits), -1).argmax(1) == labels[start:start + step]).sum())
    return {"top1": round(correct / max(1, len(labels)), 6), "correct": correct, "count": int(len(labels))}


# Settings that change what a run measures: a resumed result must have been measured with the same ones.
RESUME_SETTINGS = ("threads", "batch_size", "backend", "affinity", "eval_limit", "accuracy", "warmup_runs",
                   "warmup_seconds", "min_runs", "min_seconds", "max_seconds")


def resume_from(previous: Dict, bundle: Bundle, result: Dict, source: str = "the result to resume") -> List[Dict]:
    """The finished, error-free runs of an earlier result of this same bundle, device and settings."""
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


def options_to_json(options: RunOptions) -> Dict:
    document = asdict(options)
    document["artifacts"] = list(options.artifacts) if options.artifacts else None
    document["affinity"] = list(options.affinity) if options.affinity else None
    return document


def options_from_json(document: Dict) -> RunOptions:
    return RunOptions(**dict(document, timing=TimingSettings(**document["timing"])))


def measure_isolated(bundle: Bundle, artifact: Dict, options: RunOptions) -> Dict:
    """`run_artifact` in a child process: a native crash costs this artifact only, recorded as its error."""
    request = {"kind": "measure", "bundle": os.path.abspath(bundle.path), "manifest_sha256": bundle.manifest_sha256,
               "artifact": artifact["name"], "options": options_to_json(options)}
    try:
        return call(request)["run"]
    except ChildFailed as exc:
        crashed = " (a native crash in the runtime or the model)" if "signal" in str(exc) else ""
        return dict(blank_run(artifact, options), error=f"the measuring process {exc}{crashed}")
    except AgentError as exc:
        return dict(blank_run(artifact, options), error=str(exc))


def measure_request(request: Dict) -> Dict:
    """In the child: one artifact of the bundle, measured as `run_artifact` does."""
    options = options_from_json(request["options"])
    bundle = load_bundle(request["bundle"], verify=False)  # the parent has checked every file already
    if bundle.manifest_sha256 != request["manifest_sha256"]:
        raise AgentError("the bundle's manifest changed while the agent was running")
    artifact = next(a for a in bundle.artifacts if a["name"] == request["artifact"])
    images, labels = load_eval(bundle, options.eval_limit)
    return {"run": run_artifact(bundle, artifact, options, images, labels)}


def run_bundle(bundle: Bundle, options: RunOptions, result: Dict,
               progress: Callable[[str], None] = lambda line: None,
               save: Callable[[Dict], None] = lambda result: None) -> Dict:
    """Fills `result` in place and saves it after each artifact, so an interruption or a dropped connection
    leaves what was measured so far (marked incomplete); `result["runs"]` may hold resumed runs already.
    Each artifact is measured in its own child process."""
    done = {run["artifact"] for run in result["runs"]}
    artifacts = [a for a in select_artifacts(bundle, options.artifacts) if a.get("name") not in done]
    if done:
        progress(f"resuming: {len(done)} artifact(s) already measured, {len(artifacts)} to go")
    if options.affinity:
        os.sched_setaffinity(0, set(options.affinity))  # inherited by each measuring process
    load_eval(bundle, options.eval_limit)  # an unusable evaluation set stops the run before any artifact
    save(result)
    for index, artifact in enumerate(artifacts):
        if index and options.cooldown_seconds > 0:
            time.sleep(options.cooldown_seconds)
        progress(f"[{index + 1}/{len(artifacts)}] {artifact.get('name')} ...")
        problem = bundle.problems.get(artifact["file"])
        if problem:
            run = dict(blank_run(artifact, options), error=problem)
        else:
            run = measure_isolated(bundle, artifact, options)
        run["temperatures_after"] = temperatures()
        result["runs"].append(run)
        save(result)
        progress(describe_run(run))
    result["thermal"]["after"] = temperatures()
    result["thermal"]["flags"] = thermal_flags(result["thermal"])
    result["complete"] = True
    return result


def thermal_flags(thermal: Dict) -> List[str]:
    flags = []
    if thermal.get("throttled") and thermal["throttled"].get("any"):
        flags.append(f"throttling reported by the firmware ({thermal['throttled']['raw']})")
    before, after = thermal.get("before") or {}, thermal.get("after") or {}
    for zone, start in before.items():
        if zone in after and after[zone] - start > TEMPERATURE_RISE_FLAG_C:
            flags.append(f"{zone} rose {after[zone] - start:.1f} C during the run")
    return flags


def describe_run(run: Dict) -> str:
    if run["error"]:
        return f"    {run['artifact']}: error: {run['error']}"
    latency = run["latency_ms"]
    accuracy = f", top-1 {100 * run['accuracy']['top1']:.2f} %" if run.get("accuracy") else ""
    return (f"    {run['artifact']} ({run['backend']}): p50 {latency['p50']:.3f} ms, p90 {latency['p90']:.3f} ms, "
            f"n={latency['n']}, peak RSS {run['memory']['peak_rss_mb']} MB{accuracy}")
