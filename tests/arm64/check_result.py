"""Pass criterion of an emulated arm64 run of the device agent, judged against the x86_64 run of the same bundle.

usage: check_result.py --suite NAME --arm ARM.json --x86 X86.json --bundle BUNDLE --exit-code N
                       --predictions DIR [--minimal-sys RERUN.json]
Prints one line per criterion (ok / FAIL) and exits 1 when any fails. The model must be trained (onnx-fp32 above
95 % on x86_64); per artifact, the per-image predictions in DIR (ARTIFACT.x86_64.json and ARTIFACT.aarch64.json,
written by predictions.py) must agree on at least 99.5 % of the images, and each image that differs is listed
with its top-1 minus top-2 logit on both machines. With --minimal-sys, an artifact that a
runtime killed (a signal) is judged by its rerun with a minimal /sys, and the kill is printed as a note.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

SCHEMA = Path(__file__).resolve().parents[2] / "device_agent" / "schemas" / "result.schema.json"
X86_CPU = re.compile(r"\b(AMD|EPYC|Ryzen|Intel|Xeon|Core\(TM\)|Pentium|Celeron|x86)", re.IGNORECASE)
# Facts that a chroot under qemu-user cannot read: no device tree, no /sys, no firmware tools.
UNREADABLE_HERE = ("board",)


class Verdict:
    def __init__(self) -> None:
        self.failed: List[str] = []

    def ok(self, name: str, detail: str) -> None:
        print(f"  ok    {name}: {detail}")

    def fail(self, name: str, detail: str) -> None:
        self.failed.append(name)
        print(f"  FAIL  {name}: {detail}")

    def note(self, name: str, detail: str) -> None:
        print(f"  note  {name}: {detail}")


def _by_artifact(result: Dict) -> Dict[str, Dict]:
    return {run["artifact"]: run for run in result.get("runs", [])}


def _find_emulated(result: Dict) -> Tuple[Optional[str], object]:
    device = result.get("device") or {}
    for where, holder in (("emulated", result), ("device.emulation.emulated", device.get("emulation") or {}),
                          ("device.emulated", device)):
        if "emulated" in holder:
            return where, holder["emulated"]
    return None, None


def merge_minimal_sys(verdict: Verdict, arm: Dict, rerun: Optional[Dict]) -> Dict:
    """The runs of `arm`, where an artifact that the runtime killed without /sys is replaced by its rerun with
    a minimal /sys (only the CPU lists): the runtime's limit is recorded, its accuracy still compared."""
    merged = dict(arm, runs=[dict(run) for run in arm.get("runs", [])])
    if rerun is None:
        return merged
    again = _by_artifact(rerun)
    for index, run in enumerate(merged["runs"]):
        second = again.get(run["artifact"])
        if run.get("error") and "signal" in run["error"] and second is not None:
            merged["runs"][index] = second
            outcome = "ran" if not second.get("error") else f"failed again: {second['error']}"
            verdict.note(f"{run['artifact']} without /sys", f"{run['error']}; with a minimal /sys it {outcome} "
                         f"({(arm.get('device') or {}).get('versions', {}).get('onnxruntime')} aborts when "
                         "/sys/devices/system/cpu/possible is missing)")
    return merged


def check_runs(verdict: Verdict, arm: Dict, bundle: Path, exit_code: int) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    expected = [a["name"] for a in manifest["artifacts"]]
    runs = _by_artifact(arm)
    errors = {name: run["error"] for name, run in runs.items() if run.get("error")}
    missing = [name for name in expected if name not in runs]
    crashes_only = exit_code == 1 and all("signal" in (run.get("error") or "") for run in arm.get("runs", [])
                                          if run.get("error"))
    if (exit_code == 0 or crashes_only) and not errors and not missing and arm.get("complete") \
            and not arm.get("error"):
        verdict.ok("every artifact runs", f"{len(runs)} of {len(expected)}: {', '.join(expected)}")
    else:
        verdict.fail("every artifact runs", f"agent exit {exit_code}, complete {arm.get('complete')}, "
                     f"error {arm.get('error')!r}, missing {missing}, artifact errors {errors}")


MIN_AGREEMENT = 0.995  # top-1 agreement per artifact between the two machines, image by image
MIN_TRAINED_TOP1 = 0.95  # the model must be trained as the demo trains it: agreement on chance-level outputs says little


def _predictions(folder: Path, name: str) -> Optional[Tuple[Dict, Dict]]:
    paths = [folder / f"{name}.{machine}.json" for machine in ("x86_64", "aarch64")]
    if not all(path.exists() for path in paths):
        return None
    try:
        return json.loads(paths[0].read_text()), json.loads(paths[1].read_text())
    except ValueError:  # a run that died while writing: judged as missing, never a traceback
        return None


def _differences(x86: Dict, arm: Dict) -> List[str]:
    differ = [i for i, (a, b) in enumerate(zip(x86["predicted"], arm["predicted"])) if a != b]
    return [f"image {i} (label {x86['labels'][i]}): x86_64 {x86['predicted'][i]} (top-1 minus top-2 logit "
            f"{x86['margin'][i]:.4g}), aarch64 {arm['predicted'][i]} ({arm['margin'][i]:.4g})" for i in differ]


def check_predictions(verdict: Verdict, x86_result: Dict, predictions: Path) -> None:
    """Per artifact: the two machines' top-1 predictions, image by image, agree on at least MIN_AGREEMENT; each
    image that differs is listed with both margins. The correct counts of the agent's accuracy pass are shown."""
    for name, reference in _by_artifact(x86_result).items():
        pair = _predictions(predictions, name)
        if pair is None:
            verdict.fail(f"predictions {name}", f"per-image predictions missing in {predictions}")
            continue
        x86, arm = pair
        count = min(len(x86["predicted"]), len(arm["predicted"]))
        if count == 0 or len(x86["predicted"]) != len(arm["predicted"]):
            verdict.fail(f"predictions {name}", f"{len(x86['predicted'])} x86_64 and {len(arm['predicted'])} "
                         "aarch64 predictions")
            continue
        differences = _differences(x86, arm)
        agreement = 1 - len(differences) / count
        correct = sum(int(p == label) for p, label in zip(arm["predicted"], arm["labels"]))
        detail = (f"top-1 agreement {100 * agreement:.2f} % on {count} images ({len(differences)} differ), "
                  f"aarch64 correct {correct}/{count}")
        if differences:
            detail += "; " + "; ".join(differences)
        (verdict.ok if agreement >= MIN_AGREEMENT else verdict.fail)(f"predictions {name}", detail)


def check_trained(verdict: Verdict, x86_result: Dict) -> None:
    fp32 = _by_artifact(x86_result).get("onnx-fp32") or {}
    top1 = (fp32.get("accuracy") or {}).get("top1")
    if top1 is not None and top1 > MIN_TRAINED_TOP1:
        verdict.ok("a trained model", f"onnx-fp32 top-1 {100 * top1:.2f} % on x86_64 (> {100 * MIN_TRAINED_TOP1:g} %)")
    else:
        verdict.fail("a trained model", f"onnx-fp32 top-1 {top1} on x86_64: train it as the demo does")


def check_accuracy(verdict: Verdict, arm: Dict, x86: Dict) -> None:
    x86_runs, arm_runs = _by_artifact(x86), _by_artifact(arm)
    lines = []
    for name, reference in x86_runs.items():
        run = arm_runs.get(name)
        if not run or not run.get("accuracy") or not reference.get("accuracy"):
            verdict.fail("accuracy pass", f"{name}: no accuracy on {'aarch64' if reference.get('accuracy') else 'x86_64'}")
            return
        lines.append(f"{name} {run['accuracy']['correct']}/{run['accuracy']['count']} "
                     f"(x86_64 {reference['accuracy']['correct']})")
    verdict.ok("accuracy pass on both machines", "; ".join(lines))


def check_schema(verdict: Verdict, arm: Dict) -> None:
    import jsonschema

    try:
        jsonschema.validate(arm, json.loads(SCHEMA.read_text()))
    except jsonschema.ValidationError as exc:
        verdict.fail("schema", f"{'/'.join(map(str, exc.absolute_path)) or '(top)'}: {exc.message}")
        return
    verdict.ok("schema", f"valid against {SCHEMA.relative_to(SCHEMA.parents[2])}")


def check_device(verdict: Verdict, arm: Dict) -> None:
    device = arm.get("device") or {}
    if device.get("machine") == "aarch64":
        verdict.ok("machine", "aarch64")
    else:
        verdict.fail("machine", f"{device.get('machine')!r}, expected 'aarch64'")
    wrong = {key: device.get(key) for key in UNREADABLE_HERE if device.get(key) is not None}
    nulls = sorted(key for key, value in device.items() if value is None)
    if wrong:
        verdict.fail("unreadable facts are null", f"reported although unreadable here: {wrong}")
    else:
        verdict.ok("unreadable facts are null", f"null: {', '.join(nulls)}")
    reasons = device.get("unavailable")
    # `android` is null off Android: not applicable rather than unreadable.
    unexplained = [key for key in nulls if key != "android" and key not in (reasons or {})]
    if isinstance(reasons, dict) and not unexplained:
        verdict.ok("a reason for each null fact", "; ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))[:600])
    else:
        verdict.fail("a reason for each null fact", f"no reason in device.unavailable for {unexplained}")
    cpu = device.get("cpu_model")
    if cpu is not None and X86_CPU.search(str(cpu)):
        verdict.fail("no x86 CPU model on aarch64", f"cpu_model is {cpu!r} on an aarch64 machine "
                     "(qemu-user passes the host's /proc/cpuinfo through)")
    else:
        verdict.ok("no x86 CPU model on aarch64", f"cpu_model {cpu!r}")
    psutil = (device.get("versions") or {}).get("psutil")
    if psutil is None:
        verdict.ok("ran without psutil", "versions.psutil is null")
    else:
        verdict.fail("ran without psutil", f"versions.psutil is {psutil!r}")


def check_emulated(verdict: Verdict, arm: Dict, x86: Dict) -> None:
    where, value = _find_emulated(arm)
    if value is True:
        verdict.ok("marked emulated", f"{where} is true")
    else:
        verdict.fail("marked emulated", f"{where or 'device.emulated'} is {value!r}: nothing in the result says "
                     "the latencies were measured under emulation")
    x86_where, x86_value = _find_emulated(x86)
    if x86_value is True:
        verdict.fail("native run not marked emulated", f"the x86_64 run has {x86_where} true")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True)
    parser.add_argument("--arm", type=Path, required=True)
    parser.add_argument("--x86", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--exit-code", type=int, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--minimal-sys", type=Path, help="rerun, with a minimal /sys, of the artifacts that a "
                        "runtime killed without /sys")
    args = parser.parse_args(argv)
    verdict = Verdict()
    print(f"[arm64] {args.suite}: pass criterion")
    if not args.arm.exists():
        verdict.fail("result written", f"agent exit {args.exit_code} and no result file {args.arm}")
        return 1
    arm, x86 = json.loads(args.arm.read_text()), json.loads(args.x86.read_text())
    rerun = json.loads(args.minimal_sys.read_text()) if args.minimal_sys and args.minimal_sys.exists() else None
    merged = merge_minimal_sys(verdict, arm, rerun)
    check_runs(verdict, merged, args.bundle, args.exit_code)
    check_trained(verdict, x86)
    check_accuracy(verdict, merged, x86)
    check_predictions(verdict, x86, args.predictions)
    check_schema(verdict, arm)
    if rerun is not None:
        check_schema(verdict, rerun)
    check_device(verdict, arm)
    check_emulated(verdict, arm, x86)
    print(f"[arm64] {args.suite}: {'PASS' if not verdict.failed else 'FAIL (' + ', '.join(verdict.failed) + ')'}")
    return 1 if verdict.failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
