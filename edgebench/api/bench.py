"""`edgebench.bench`: run a bundle on a device (here, over ssh, or a devices-file name) and return its `Result`.

The measurement options are the device agent's, passed to it as they are after its own parser has checked
them here (before anything is copied); `AGENT_OPTIONS` is the one list of them, the CLI's options included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from device_agent.cli import build_parser, options_from_args
from device_agent.errors import AgentError
from edgebench.api.progress import printer
from edgebench.api.result import Result
from edgebench.devices.bench import check_bundle
from edgebench.devices.measure import MeasureSettings, measure, open_device
from edgebench.errors import BadOptionError, DeviceError, EdgebenchError

# (keyword, the agent's flag, type, help); flags without a value are listed in AGENT_FLAGS. `threads` here is
# the agent's own option (a count or a list to sweep, 0: the runtime's choice), checked by the agent's parser.
AGENT_OPTIONS = (
    ("threads", "--threads", str, "agent threads, one value or a list to sweep, e.g. 1,2,4 (default: the device's, "
                                  "else 1)"),
    ("artifacts", "--artifacts", str, "comma-separated artifact names (default: all)"),
    ("warmup_runs", "--warmup-runs", int, None),
    ("min_runs", "--min-runs", int, None),
    ("min_seconds", "--min-seconds", float, None),
    ("max_seconds", "--max-seconds", float, None),
    ("rounds", "--rounds", int, "interleaved rounds; each configuration runs 1/R of the timing budget per round "
                                "(the agent's default: 10)"),
    ("target_ci", "--target-ci", float, "add rounds until each p50's 95 % interval half-width is within this many % "
                                        "(within --max-seconds)"),
    ("xnnpack", "--xnnpack", str, "TFLite: on, off, or on,off to sweep"),
    ("ort_graph_optimization", "--ort-graph-optimization", str, "ONNX Runtime: disable, basic, extended, all (a "
                                                                "list sweeps)"),
    ("ort_execution_mode", "--ort-execution-mode", str, "ONNX Runtime: sequential, parallel (a list sweeps)"),
    ("sustained", "--sustained", float, "after the rounds, run each configuration this many seconds, recording "
                                        "latency, temperature, frequency and throttling once a second"),
    ("cooldown", "--cooldown", str, "rest: seconds (45) or until the CPU is at or below a temperature (45C)"),
    ("profile_runs", "--profile-runs", int, "runs per profile (with --profile)"),
)
AGENT_FLAGS = (("samples", "--samples", "keep every latency sample"),
               ("no_interleave", "--no-interleave", "one configuration at a time, its process closed before the "
                                                    "next (devices short of memory)"),
               ("profile", "--profile", "per-layer profile of each ONNX configuration (ONNX Runtime's profiler)"))


def _joined(value: Any) -> Any:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value


def agent_arguments(values: Dict[str, Any]) -> List[str]:
    """The agent's command line for these option values, checked by the agent's own parser and rules: an
    error names the first bad value before anything is copied to the device."""
    arguments: List[str] = []
    for name, flag, _, _ in AGENT_OPTIONS:
        if values.get(name) is not None:
            arguments += [flag, str(_joined(values[name]))]
    arguments += [flag for name, flag, _ in AGENT_FLAGS if values.get(name)]
    try:
        options_from_args(build_parser().parse_args(["run", "BUNDLE", *arguments]))
    except AgentError as exc:  # the agent's refusal, in its words (exit 1, as the agent's own checks always were)
        raise EdgebenchError(str(exc)) from None
    return arguments


def bench(bundle: Any, device: str = "local", *, devices: Optional[str] = None, results: Union[str, Path] = "results",
          threads: Union[int, Sequence[int], str, None] = None, artifacts: Union[str, Sequence[str], None] = None,
          progress=False, server: Optional[str] = None, token: Optional[str] = None, **agent_options: Any) -> Result:
    """Measure `bundle` (a `Bundle` or a bundle folder) on `device`: `local`, `ssh://user@host[:port]` or a name
    from the devices file (`devices`, default ./devices.yaml then ~/.config/edgebench/devices.yaml). The
    result file lands under `results/DEVICE/`. `agent_options` are the agent's (`rounds=3`, `min_seconds=0.5`,
    `xnnpack="on,off"`, `profile=True`, ...; see `AGENT_OPTIONS`), refused in the agent's own words
    (`EdgebenchError`, as the agent refuses them; `BadOptionError` for an unknown keyword), a bundle the agent
    would refuse raises `EdgebenchError` too, `DeviceError` when the device fails (its `path` is the
    kept result when some artifacts were measured). A fleet device (`fleet:NAME`, `fleet:labels=A,B`, or a
    devices-file entry with `server:`) is reached through `server` with `token`, else EDGEBENCH_SERVER and
    EDGEBENCH_TOKEN, else the entry's `server:` and `token_file:`."""
    unknown = sorted(set(agent_options) - {name for name, *_ in AGENT_OPTIONS} - {name for name, *_ in AGENT_FLAGS})
    if unknown:
        raise BadOptionError(f"unknown measurement option '{unknown[0]}': choose from "
                             f"{', '.join(name for name, *_ in AGENT_OPTIONS + AGENT_FLAGS)}")
    names = _artifact_names(artifacts)
    agent_args = agent_arguments({**agent_options, "threads": threads,
                                  "artifacts": ",".join(names) if names else None})
    folder = Path(getattr(bundle, "path", bundle))
    # a bad device or devices file is named first, as the command line did
    target = open_device(device, devices, server=server, token=token)
    check_bundle(folder, names)  # a bundle the agent would refuse is the caller's input, not the device's fault
    settings = MeasureSettings(agent_args=tuple(agent_args), results=Path(results),
                               artifacts=tuple(names) if names is not None else None)
    try:
        measurement = measure(folder, target, settings, log=printer(progress))
    except EdgebenchError as exc:
        raise DeviceError(str(exc), getattr(exc, "path", None)) from None
    return Result(path=measurement.path, document=measurement.result)


def _artifact_names(artifacts) -> Optional[List[str]]:
    if artifacts is None:
        return None
    parts = artifacts.split(",") if isinstance(artifacts, str) else list(artifacts)
    names = [str(name).strip() for name in parts if str(name).strip()]
    if not names:
        raise EdgebenchError(f"--artifacts {_joined(artifacts)!r} names no artifact: give comma-separated artifact "
                             "names")
    return names
