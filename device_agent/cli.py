"""`device-agent run BUNDLE` / `python -m device_agent run BUNDLE`: timed inference -> result JSON."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import socket
import sys
import tempfile
from typing import Dict, List, Optional

from device_agent import __version__
from device_agent.bundle import load_bundle
from device_agent.device_info import device_facts
from device_agent.errors import AgentError
from device_agent.protocol import TimingSettings
from device_agent.runner import RunOptions, new_result, resume_from, run_bundle

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def write_json_atomic(path: str, document: Dict) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".result.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise AgentError(f"cannot read the result to resume, {path}: {exc}") from None


def _int_list(text: str) -> List[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of CPU numbers") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="device-agent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"device-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="time every artifact of a bundle and score it on the bundled images")
    run.add_argument("bundle", help="bundle folder written by `edgebench export`")
    run.add_argument("--out", help="result file, or a folder for an automatically named one")
    run.add_argument("--artifacts", help="comma-separated artifact names (default: all)")
    run.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    run.add_argument("--backend", help="force a backend: onnxruntime, tflite or null (harness overhead)")
    run.add_argument("--warmup-runs", type=int, default=10)
    run.add_argument("--warmup-seconds", type=float, default=1.0)
    run.add_argument("--min-runs", type=int, default=50)
    run.add_argument("--min-seconds", type=float, default=2.0)
    run.add_argument("--max-seconds", type=float, default=60.0)
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


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "info":
        print(json.dumps(device_facts(), indent=2))
        return EXIT_OK
    return _run(args)


def _run(args) -> int:
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    if args.threads < 0:
        print(f"error: --threads {args.threads} is out of range: give 0 (runtime default) or more", file=sys.stderr)
        return EXIT_USAGE
    options = RunOptions(
        threads=args.threads,
        timing=TimingSettings(args.warmup_runs, args.warmup_seconds, args.min_runs, args.min_seconds,
                              args.max_seconds),
        backend=args.backend, artifacts=[a for a in (args.artifacts or "").split(",") if a] or None,
        eval_limit=args.eval_limit, accuracy=not args.no_accuracy, keep_samples=args.samples,
        affinity=args.affinity, cooldown_seconds=args.cooldown, device_name=args.device_name,
    )
    device_name = args.device_name or socket.gethostname()
    out = default_result_path(args.out, args.bundle, device_name)
    bundle = None
    result: Dict = {}
    try:
        options.timing.check()
        bundle = load_bundle(args.bundle)
        result = new_result(args.bundle, options, bundle)
        if args.resume:
            result["runs"] = resume_from(_read_json(args.resume), bundle)
        model = bundle.manifest.get("model", {}).get("name", "?")
        say(f"device-agent {__version__}: {model} from {args.bundle} on {result['device']['name']} "
            f"({result['device']['machine']}, {options.threads} thread(s))")
        run_bundle(bundle, options, result, progress=say, save=lambda partial: write_json_atomic(out, partial))
    except AgentError as exc:
        result = result or new_result(args.bundle, options, bundle)
        result["error"] = str(exc)
        write_json_atomic(out, result)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # a bug or an unexpected runtime failure: still one line and a saved result
        result = result or new_result(args.bundle, options, bundle)
        result["error"] = f"{type(exc).__name__}: {exc}"
        write_json_atomic(out, result)
        print(f"error: unexpected {type(exc).__name__}: {exc} (result saved to {out})", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        result = result or new_result(args.bundle, options, bundle)
        result["error"] = "interrupted"
        write_json_atomic(out, result)
        print(f"interrupted: {len(result['runs'])} finished run(s) saved to {out} (marked incomplete)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    write_json_atomic(out, result)
    failed = [run for run in result["runs"] if run["error"]]
    for flag in result["thermal"].get("flags", []):
        say(f"warning: {flag}")
    print(out)
    if failed:
        print(f"error: {len(failed)} of {len(result['runs'])} artifact(s) failed: {failed[0]['error']}",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
