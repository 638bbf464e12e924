"""Judge an agent result written inside a container: complete, every artifact of the bundle measured without
error and scored, on the expected machine, marked emulated exactly when it ran under emulation.

usage: python docker/check_result.py BUNDLE RESULT --machine x86_64|aarch64 [--emulated]
Prints one line per run; exits 1 with the first problem."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def problems(manifest: dict, result: dict, machine: str, emulated: bool) -> list:
    found = []
    if not result.get("complete") or result.get("error"):
        found.append(f"the result is not complete: {result.get('error')}")
    if result["device"]["machine"] != machine:
        found.append(f"machine {result['device']['machine']}, expected {machine}")
    if bool(result.get("emulated")) != emulated:
        found.append(f"emulated is {result.get('emulated')}, expected {emulated}")
    names = sorted(artifact["name"] for artifact in manifest["artifacts"])
    measured = sorted(run["artifact"] for run in result["runs"])
    if measured != names:
        found.append(f"runs {measured}, expected one per artifact {names}")
    for run in result["runs"]:
        if run["error"]:
            found.append(f"{run['artifact']}: {run['error']}")
        elif not run.get("accuracy") or run["accuracy"]["count"] < 1 or run["latency_ms"]["n"] < 5:
            found.append(f"{run['artifact']}: no accuracy or too few samples")
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle")
    parser.add_argument("result")
    parser.add_argument("--machine", required=True)
    parser.add_argument("--emulated", action="store_true")
    args = parser.parse_args()
    manifest = json.loads((Path(args.bundle) / "manifest.json").read_text())
    result = json.loads(Path(args.result).read_text())
    for run in result["runs"]:
        if not run["error"]:
            print(f"  {args.machine}: {run['artifact']:<14} p50 {run['latency_ms']['p50']:9.3f} ms  "
                  f"top-1 {100 * run['accuracy']['top1']:6.2f} % of {run['accuracy']['count']}", file=sys.stderr)
    found = problems(manifest, result, args.machine, args.emulated)
    if found:
        print(f"make test-docker: {args.result}: {found[0]}", file=sys.stderr)
        return 1
    mark = " (emulated)" if args.emulated else ""
    print(f"[docker] {args.machine}{mark}: {len(result['runs'])} artifact(s) measured and scored", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
