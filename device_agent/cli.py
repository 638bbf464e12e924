"""`device-agent run BUNDLE` / `python -m device_agent run BUNDLE`: timed inference -> result JSON.

Each configuration (an artifact with one setting of the sweep: --threads, --xnnpack, --ort-graph-optimization,
--ort-execution-mode) gets its own measuring process; all are timed in interleaved rounds, and each median
comes with a 95 % confidence interval, a stability verdict and a ranking against the fastest.

Exit codes: 0 every configuration measured; 1 a bundle, artifact or write failed (the result says which);
2 an option was refused (nothing measured or written); 130 interrupted, 128+N terminated by signal N
(the result is saved after every round: an interrupted one keeps the finished configurations and each other
configuration's rounds so far, marked `partial`; `--resume` keeps the finished ones and measures the others again).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib.util
import json
import math
import os
import re
import signal
import socket
import sys
import threading
from typing import Callable, Dict, Iterator, List, Optional

from device_agent import __version__
from device_agent.backends import BACKENDS
from device_agent.bundle import load_bundle
from device_agent.device_info import device_facts
from device_agent.errors import AgentError, UsageError
from device_agent.fileio import check_target, dumps_json, result_lock, write_json_atomic
from device_agent.configs import EXECUTION_MODES, GRAPH_OPTIMIZATIONS, Sweep, parse_choices, parse_threads, \
    parse_xnnpack
from device_agent.child import child_main, session_main
from device_agent.isolation import CHILD_COMMAND, SESSION_COMMAND
from device_agent.protocol import TimingSettings
from device_agent.rounds import describe_run, ranking_line
from device_agent.runner import RunOptions, bundle_summary, new_result, resume_from, run_bundle, select_artifacts
from device_agent import work

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 128 + 13


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like KeyboardInterrupt, so the finished runs are saved."""

    def __init__(self, signum: int):
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise Terminated (outside the main thread: nothing changes)."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
                previous[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def default_result_path(out: Optional[str], bundle_path: str, device_name: str) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    bundle_name = os.path.basename(os.path.normpath(bundle_path)) or "bundle"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{bundle_name}__{device_name}__{stamp}") + ".json"
    if out is None:
        return name
    if out.endswith(os.sep) or os.path.isdir(out):
        return os.path.join(out, name)
    return out


def _read_json(path: str) -> Dict:
    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--resume {path} cannot be read: {exc}") from None
    if not isinstance(document, dict):
        raise UsageError(f"--resume {path} is not a result (a JSON object is expected)")
    return document


def _int_list(text: str) -> List[int]:
    try:
        cpus = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of CPU numbers") from None
    if not cpus:
        raise argparse.ArgumentTypeError(f"'{text}' names no CPU")
    return cpus


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line and exit 2, without the usage block."""
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="device-agent", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"device-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="time every artifact of a bundle and score it on the bundled images")
    run.add_argument("bundle", help="bundle folder written by `edgebench export`")
    run.add_argument("--out", help="result file, or a folder for an automatically named one")
    run.add_argument("--artifacts", help="comma-separated artifact names (default: all); a name given twice is "
                                          "measured twice, the second labelled NAME#2")
    run.add_argument("--threads", default="1",
                     help="intra-op threads, one or a list to sweep, e.g. 1,2,4 (default 1; 0: the runtime's choice)")
    run.add_argument("--xnnpack", default="on",
                     help="TFLite: XNNPACK delegate on, off, or on,off to sweep (default on)")
    run.add_argument("--ort-graph-optimization", default="all",
                     help=f"ONNX Runtime graph optimisation level(s): {', '.join(GRAPH_OPTIMIZATIONS)} (default all)")
    run.add_argument("--ort-execution-mode", default="sequential",
                     help=f"ONNX Runtime execution mode(s): {', '.join(EXECUTION_MODES)} (default sequential)")
    run.add_argument("--backend", help=f"force a backend: {', '.join(sorted(BACKENDS))} (null: harness overhead)")
    defaults = TimingSettings()  # the harness's defaults, defined once
    run.add_argument("--warmup-runs", type=int, default=defaults.warmup_runs)
    run.add_argument("--warmup-seconds", type=float, default=defaults.warmup_seconds)
    run.add_argument("--min-runs", type=int, default=defaults.min_runs)
    run.add_argument("--min-seconds", type=float, default=defaults.min_seconds)
    run.add_argument("--max-seconds", type=float, default=defaults.max_seconds)
    run.add_argument("--eval-limit", type=int, help="score at most this many bundled images")
    run.add_argument("--no-accuracy", action="store_true", help="skip the accuracy pass")
    run.add_argument("--samples", action="store_true", help="keep every latency sample in the result")
    run.add_argument("--affinity", type=_int_list, help="pin to these CPUs, e.g. 2,3 (Linux)")
    run.add_argument("--rounds", type=int, default=10,
                     help="interleaved rounds; each configuration runs 1/R of the timing budget per round (default 10)")
    run.add_argument("--target-ci", type=float, metavar="PCT",
                     help="add rounds until every p50's 95 %% interval half-width is at most PCT %% of it "
                          "(within --max-seconds of timed time per configuration)")
    run.add_argument("--no-interleave", action="store_true",
                     help="one configuration at a time, its process closed before the next (less memory)")
    run.add_argument("--sustained", type=float, metavar="SECONDS",
                     help="after the rounds, run each configuration continuously this long, recording latency, "
                          "temperature, frequency and throttling once a second")
    run.add_argument("--profile", action="store_true", help="per-layer profile of each configuration")
    run.add_argument("--profile-runs", type=int, default=50, help="inferences the profile averages (default 50)")
    run.add_argument("--cooldown", default="0",
                     help="rest before the rounds, each sustained run (and each configuration with "
                          "--no-interleave): seconds, e.g. 45, or a temperature, e.g. 45C (wait, at most 600 s, "
                          "until the hottest zone is at or below it)")
    run.add_argument("--device-name", help="name for this device in reports (default: hostname)")
    run.add_argument("--resume", help="an earlier, incomplete result of this bundle: its finished configurations are "
                                       "kept, those cut off in their rounds are measured again")
    run.add_argument("--timeout", type=float, metavar="SECONDS",
                     help="watchdog: a configuration whose measuring process gives no answer within twice its "
                          "request's time budget plus SECONDS (default 300) is killed and recorded as timed out")
    run.add_argument("--quiet", action="store_true", help="print only the result path")
    commands.add_parser("info", help="print this device's facts as JSON")
    work.add_parser(commands)
    return parser


def _emit(text: str) -> bool:
    """Write to stdout; False when the reader has gone (a closed pipe), which is not an error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
        return True
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit has nowhere to fail
        os.close(devnull)
        return False


def _say(quiet: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if not quiet:
            with contextlib.suppress(OSError):  # a closed stderr (dropped ssh) must not stop the measurement
                print(line, file=sys.stderr, flush=True)
    return say


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [CHILD_COMMAND]:
        return child_main()
    if argv[:1] == [SESSION_COMMAND]:
        return session_main()
    args = build_parser().parse_args(argv)
    if args.command == "work":
        return work.work_main(args)
    if args.command == "info":
        return EXIT_OK if _emit(dumps_json(device_facts())) else EXIT_BROKEN_PIPE
    return _run(args)


def _cpu_ranges(cpus: List[int]) -> str:
    return ",".join(map(str, cpus)) if len(cpus) < 3 or cpus != list(range(cpus[0], cpus[-1] + 1)) \
        else f"{cpus[0]}-{cpus[-1]}"


def _cooldown(text: str):
    """`45` (seconds) -> (45.0, None); `45C` (degrees Celsius) -> (0.0, 45.0)."""
    number, celsius = (text[:-1], True) if text[-1:] in ("C", "c") else (text, False)
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (celsius and not 0 < value < 150):
        raise UsageError(f"--cooldown {text} is out of range: give seconds (a finite number, 0 or more, e.g. 45) "
                         "or a temperature between 0 and 150 C (e.g. 45C)")
    return (0.0, value) if celsius else (value, None)


def _needs(module: str, flag: str) -> None:
    """A flag whose work lives in an optional module of this agent: refuse it up front if the module is absent."""
    if importlib.util.find_spec(f"device_agent.{module}") is None:
        raise UsageError(f"{flag} needs device_agent/{module}.py, which this copy of the agent lacks: "
                         "copy the whole device_agent folder")


def _sweep(args) -> Sweep:
    return Sweep(threads=parse_threads(args.threads), xnnpack=parse_xnnpack(args.xnnpack),
                 ort_graph_optimization=parse_choices("--ort-graph-optimization", args.ort_graph_optimization,
                                                      GRAPH_OPTIMIZATIONS),
                 ort_execution_mode=parse_choices("--ort-execution-mode", args.ort_execution_mode, EXECUTION_MODES))


def options_from_args(args) -> RunOptions:
    """The run's settings, each checked: UsageError names the first one out of range."""
    sweep = _sweep(args)
    if args.eval_limit is not None and args.eval_limit < 1:
        raise UsageError(f"--eval-limit {args.eval_limit} is out of range: give 1 or more, or leave it out for all")
    cooldown_seconds, cooldown_temperature = _cooldown(args.cooldown)
    if cooldown_temperature is not None:
        _needs("sensors", "--cooldown with a temperature")
    if args.rounds < 1:
        raise UsageError(f"--rounds {args.rounds} is out of range: give 1 or more")
    if args.target_ci is not None and not (math.isfinite(args.target_ci) and 0 < args.target_ci < 100):
        raise UsageError(f"--target-ci {args.target_ci:g} is out of range: give a percentage of the p50 above 0 "
                         "and below 100, e.g. 2")
    if args.sustained is not None:
        if not math.isfinite(args.sustained) or args.sustained <= 0:
            raise UsageError(f"--sustained {args.sustained:g} is out of range: give a finite number of seconds, "
                             "more than 0, e.g. 600")
        _needs("sustained", "--sustained")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UsageError(f"--timeout {args.timeout:g} is out of range: give a finite number of seconds, more than 0, "
                         "e.g. 60")
    if args.profile_runs < 1:
        raise UsageError(f"--profile-runs {args.profile_runs} is out of range: give 1 or more")
    if args.profile:
        _needs("profiling", "--profile")
    if args.backend is not None and args.backend not in BACKENDS:
        raise UsageError(f"--backend '{args.backend}' is unknown; valid: {', '.join(sorted(BACKENDS))}")
    if args.affinity is not None:
        if not hasattr(os, "sched_setaffinity"):
            raise UsageError("--affinity is not supported on this system (it needs Linux's sched_setaffinity)")
        available = sorted(os.sched_getaffinity(0))
        absent = [cpu for cpu in args.affinity if cpu not in available]
        if absent:
            raise UsageError(f"--affinity: CPU {absent[0]} is not available; this process may use CPUs "
                             f"{_cpu_ranges(available)}")
    timing = TimingSettings(warmup_runs=args.warmup_runs, warmup_seconds=args.warmup_seconds,
                            min_runs=args.min_runs, min_seconds=args.min_seconds, max_seconds=args.max_seconds)
    timing.check()
    return RunOptions(sweep=sweep, timing=timing, backend=args.backend,
                      artifacts=[a for a in (args.artifacts or "").split(",") if a] or None,
                      eval_limit=args.eval_limit, accuracy=not args.no_accuracy, keep_samples=args.samples,
                      affinity=args.affinity, cooldown_seconds=cooldown_seconds,
                      cooldown_temperature_c=cooldown_temperature, device_name=args.device_name or socket.gethostname(),
                      rounds=args.rounds, target_ci_pct=args.target_ci, interleave=not args.no_interleave,
                      sustained_seconds=args.sustained, profile_runs=args.profile_runs if args.profile else None,
                      timeout_seconds=args.timeout)


def _result_path(args, options: RunOptions) -> str:
    out = default_result_path(args.out, args.bundle, options.device_name)
    try:
        check_target(out)
    except AgentError as exc:
        raise UsageError(f"--out: {exc}") from None
    return out


class _Saver:
    """Saves the result before the first round, then after every round and finished configuration. The first
    save must succeed (a place that cannot take the result fails before anything is measured); a later failure
    is reported once and the measuring goes on, since the next save and the final one in `_finish` try again,
    and the result is printed if it still cannot be saved."""

    def __init__(self, out: str, say: Callable[[str], None]):
        self.out, self.say, self.saved, self.failing = out, say, False, False

    def __call__(self, partial: Dict) -> None:
        try:
            write_json_atomic(self.out, partial)
            self.saved, self.failing = True, False
        except AgentError as exc:
            if not self.saved:
                raise
            if not self.failing:  # said once, not after every round, until a save succeeds again
                self.say(f"warning: {exc}; measuring goes on, the result will be printed if it still cannot be "
                         "saved")
            self.failing = True


def _run(args) -> int:
    say = _say(args.quiet)
    result: Optional[Dict] = None
    out = ""
    failure: Optional[BaseException] = None
    lock = contextlib.ExitStack()
    try:
        with signals_raise():
            options = options_from_args(args)
            out = _result_path(args, options)
            lock.enter_context(result_lock(out))  # held until the final save
            result = new_result(args.bundle, options, None)
            bundle = load_bundle(args.bundle)
            result["bundle"] = bundle_summary(args.bundle, bundle)
            select_artifacts(bundle, options.artifacts)
            if args.resume:
                result["runs"] = resume_from(_read_json(args.resume), bundle, result, args.resume)
            model = bundle.manifest["model"]["name"]
            emulated = " - EMULATED: latency is not comparable with real devices" if result["emulated"] else ""
            threads = ",".join(map(str, options.sweep.threads))
            order = f"{options.rounds} interleaved rounds" if options.interleave else \
                f"{options.rounds} rounds, one configuration at a time"
            say(f"device-agent {__version__}: {model} from {args.bundle} on {result['device']['name']} "
                f"({result['device']['machine']}, {threads} thread(s), {order}){emulated}")
            run_bundle(bundle, options, result, progress=say, save=_Saver(out, say))
            if options.interleave:
                for run in result["runs"]:
                    say(describe_run(run))
            ranking = ranking_line(result.get("comparison"))
            if ranking:
                say(ranking if options.interleave else
                    f"{ranking} (measured one after another, not interleaved: drift between them is not cancelled)")
    except (Exception, KeyboardInterrupt, Terminated) as exc:
        failure = exc
    with lock:
        return _finish(result, out, failure, say)


def _verdict(result: Optional[Dict], failure: Optional[BaseException]):
    """(exit code, the result's error or None, the line for stderr or None)."""
    if isinstance(failure, UsageError):
        return EXIT_USAGE, None, f"error: {failure}"
    if isinstance(failure, AgentError):
        return EXIT_FAILED, str(failure), f"error: {failure}"
    if isinstance(failure, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted", "interrupted"
    if isinstance(failure, Terminated):
        return 128 + failure.signum, str(failure), str(failure)
    if failure is not None:  # a bug or an unexpected failure: still one line and a saved result
        text = f"{type(failure).__name__}: {failure}".splitlines()[0]
        return EXIT_FAILED, text, f"error: unexpected {text}"
    failed = [run for run in result["runs"] if run["error"]]
    if failed:
        swept = any(run.get("config", run["artifact"]) != run["artifact"] for run in result["runs"])
        return EXIT_FAILED, None, (f"error: {len(failed)} of {len(result['runs'])} "
                                   f"{'configuration(s)' if swept else 'artifact(s)'} failed: "
                                   f"{failed[0].get('config') or failed[0]['artifact']}: {failed[0]['error']}")
    return EXIT_OK, None, None


def _kept(runs: List[Dict]) -> str:
    """`1 finished run(s) and 2 partial (3 of 10 rounds)`: what an interrupted result holds."""
    partial = [run["partial"] for run in runs if run.get("partial")]
    text = f"{len(runs) - len(partial)} finished run(s)"
    if partial:
        done = sorted({entry["rounds_done"] for entry in partial})
        rounds = str(done[0]) if len(done) == 1 else f"{done[0]}-{done[-1]}"
        text += f" and {len(partial)} partial ({rounds} of {partial[0]['rounds_planned']} rounds)"
    return text


def _finish(result: Optional[Dict], out: str, failure: Optional[BaseException], say) -> int:
    """The one save: the result (with the error, if any) goes to `out`; if it cannot, to stdout."""
    code, error, line = _verdict(result, failure)
    if result is not None and code != EXIT_USAGE:
        result["error"] = error
        try:
            write_json_atomic(out, result)
            saved = True
        except AgentError as exc:
            _emit(json.dumps(result, indent=2, default=str) + "\n")
            earlier = f" ({line})" if line and line != f"error: {exc}" else ""
            line = f"error: {exc}; the result is printed on stdout instead{earlier}"
            code, saved = EXIT_FAILED, False
        if saved and failure is None:
            for flag in result["thermal"].get("flags", []):
                say(f"warning: {flag}")
            _emit(out + "\n")
        elif saved and (code == EXIT_INTERRUPTED or isinstance(failure, Terminated)):
            line = f"{line}: {_kept(result['runs'])} saved to {out} (marked incomplete)"
    if line:
        with contextlib.suppress(OSError):
            print(line, file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
