"""`device-agent run BUNDLE` / `python -m device_agent run BUNDLE`: timed inference -> result JSON.

Exit codes: 0 every artifact measured; 1 a bundle, artifact or write failed (the result says which);
2 an option was refused (nothing measured or written); 130 interrupted, 128+N terminated by signal N
(finished artifacts kept in the result, marked incomplete).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
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
from device_agent.fileio import check_target, dumps_json, write_json_atomic
from device_agent.isolation import CHILD_COMMAND, child_main
from device_agent.protocol import TimingSettings
from device_agent.runner import RunOptions, bundle_summary, new_result, resume_from, run_bundle, select_artifacts

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
    run.add_argument("--artifacts", help="comma-separated artifact names (default: all)")
    run.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1; 0: the runtime's choice)")
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
    run.add_argument("--cooldown", type=float, default=0.0, help="seconds to rest between artifacts")
    run.add_argument("--device-name", help="name for this device in reports (default: hostname)")
    run.add_argument("--resume", help="an earlier, incomplete result of this bundle: its finished artifacts are kept")
    run.add_argument("--quiet", action="store_true", help="print only the result path")
    commands.add_parser("info", help="print this device's facts as JSON")
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
    args = build_parser().parse_args(argv)
    if args.command == "info":
        return EXIT_OK if _emit(dumps_json(device_facts())) else EXIT_BROKEN_PIPE
    return _run(args)


def _cpu_ranges(cpus: List[int]) -> str:
    return ",".join(map(str, cpus)) if len(cpus) < 3 or cpus != list(range(cpus[0], cpus[-1] + 1)) \
        else f"{cpus[0]}-{cpus[-1]}"


def options_from_args(args) -> RunOptions:
    """The run's settings, each checked: UsageError names the first one out of range."""
    if args.threads < 0:
        raise UsageError(f"--threads {args.threads} is out of range: give 0 (the runtime's choice) or more")
    if args.eval_limit is not None and args.eval_limit < 1:
        raise UsageError(f"--eval-limit {args.eval_limit} is out of range: give 1 or more, or leave it out for all")
    if not math.isfinite(args.cooldown) or args.cooldown < 0:
        raise UsageError(f"--cooldown {args.cooldown} is out of range: give a finite number of seconds, 0 or more")
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
    return RunOptions(threads=args.threads, timing=timing, backend=args.backend,
                      artifacts=[a for a in (args.artifacts or "").split(",") if a] or None,
                      eval_limit=args.eval_limit, accuracy=not args.no_accuracy, keep_samples=args.samples,
                      affinity=args.affinity, cooldown_seconds=args.cooldown,
                      device_name=args.device_name or socket.gethostname())


def _result_path(args, options: RunOptions) -> str:
    out = default_result_path(args.out, args.bundle, options.device_name)
    try:
        check_target(out)
    except AgentError as exc:
        raise UsageError(f"--out: {exc}") from None
    return out


class _Saver:
    """Saves the result before the first artifact and after each one. The first save must succeed (a place
    that cannot take the result fails before anything is measured); a later failure is reported and the
    measuring goes on, since the final save in `_finish` tries again and prints the result if it cannot."""

    def __init__(self, out: str, say: Callable[[str], None]):
        self.out, self.say, self.saved = out, say, False

    def __call__(self, partial: Dict) -> None:
        try:
            write_json_atomic(self.out, partial)
            self.saved = True
        except AgentError as exc:
            if not self.saved:
                raise
            self.say(f"warning: {exc}; measuring goes on, the result will be printed if it still cannot be saved")


def _run(args) -> int:
    say = _say(args.quiet)
    result: Optional[Dict] = None
    out = ""
    failure: Optional[BaseException] = None
    try:
        with signals_raise():
            options = options_from_args(args)
            out = _result_path(args, options)
            result = new_result(args.bundle, options, None)
            bundle = load_bundle(args.bundle)
            result["bundle"] = bundle_summary(args.bundle, bundle)
            select_artifacts(bundle, options.artifacts)
            if args.resume:
                result["runs"] = resume_from(_read_json(args.resume), bundle, result, args.resume)
            model = bundle.manifest["model"]["name"]
            emulated = " - EMULATED: latency is not comparable with real devices" if result["emulated"] else ""
            say(f"device-agent {__version__}: {model} from {args.bundle} on {result['device']['name']} "
                f"({result['device']['machine']}, {options.threads} thread(s)){emulated}")
            run_bundle(bundle, options, result, progress=say, save=_Saver(out, say))
    except (Exception, KeyboardInterrupt, Terminated) as exc:
        failure = exc
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
        return EXIT_FAILED, None, (f"error: {len(failed)} of {len(result['runs'])} artifact(s) failed: "
                                   f"{failed[0]['artifact']}: {failed[0]['error']}")
    return EXIT_OK, None, None


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
            line = f"{line}: {len(result['runs'])} finished run(s) saved to {out} (marked incomplete)"
    if line:
        with contextlib.suppress(OSError):
            print(line, file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
