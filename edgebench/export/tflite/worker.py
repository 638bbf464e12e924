"""The TFLite branch of an export in a process of its own, beside the ONNX stages.

onnx2tf and TFLite's converter (its int8 calibrator included) run on one core, while the ONNX stages (the torch
reference, ONNX Runtime's calibration and gates) use every core but leave gaps. For a large model a worker process
starts with the export and loads TensorFlow and onnx2tf while the model is exported to ONNX; it converts as soon as
the fp32 ONNX is written, and the TFLite writer takes its files when the export reaches them. The worker keeps to
one core, and while it runs the host's runtimes use one thread (`ExportContext.threads`): two threads sharing the
one free core wait on each other at every op (ResNet-101's onnx-fp32 stage took 21.0 s that way against 9.9 s alone).
The worker runs the in-process path's code (`TfliteConverter`) under the same stage limits, and its .tflite files
are the same bytes (tests/test_tflite_worker.py).

The worker is a new Python (`python -m edgebench.export.tflite.worker JOB`), not a fork or a thread: the host
process holds torch's and ONNX Runtime's thread pools, and the converter changes the working directory and parks
file descriptors 1 and 2, which would silence and misdirect the rest of the export.

`EDGEBENCH_TFLITE_WORKER`: `auto` (the default: a worker where the fp32 ONNX is at least 32 MiB and the machine
has 2 cores or more; a smaller model's whole TFLite branch costs less than starting TensorFlow again), `on`, `off`.
An int8 accuracy budget (`--max-drop`) keeps the branch in process: its search drives the converter layer by layer.

JOB holds job.json and calibration.npy (in, job.json written last; a worker whose parent is gone stops waiting
for it), worker.log (what the worker printed), setup.json once onnx2tf is
done or has failed, then PRECISION.json (and model.PRECISION.tflite) for each precision in turn.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from edgebench.errors import BadOptionError, EdgebenchError, WriteError, require
from edgebench.export.spec import Layout, Precision
from edgebench.export.tflite.convert import TfliteConverter
from edgebench.export.watchdog import stage_limit
from edgebench.fileio import raise_if_write_error, write_bytes, write_json

VARIABLE = "EDGEBENCH_TFLITE_WORKER"
SETTINGS = ("auto", "on", "off")
AUTO_MIN_BYTES = 32 * 2**20
JOB_FILE, CALIBRATION_FILE, LOG_FILE, SETUP_FILE = "job.json", "calibration.npy", "worker.log", "setup.json"
POLL_S = 0.05


def setting() -> str:
    """The environment's choice; a value that is not one is refused before any work."""
    value = os.environ.get(VARIABLE, "").strip().lower() or "auto"
    if value not in SETTINGS:
        raise BadOptionError(f"{VARIABLE}: '{os.environ[VARIABLE]}' is not a setting: give {', '.join(SETTINGS)}")
    return value


def wanted(precisions: Sequence, model_bytes: int, budget: bool) -> bool:
    """Whether this export's TFLite branch runs in a worker, for a model of about `model_bytes` as fp32 ONNX
    (see the module's notes)."""
    choice = setting()
    if choice == "off" or not precisions or budget:
        return False
    if choice == "on":
        return True
    return (os.cpu_count() or 1) >= 2 and model_bytes >= AUTO_MIN_BYTES


class TfliteWorker:
    """The parent's handle: `setup()` waits for onnx2tf, `take(precision, path)` for one artifact; `close()` ends
    the process and removes its folder. A worker that dies is said with its exit and its last line."""

    def __init__(self, process: subprocess.Popen, job: Path):
        self.process = process
        self.job = job

    @classmethod
    def start(cls, job: Path) -> "TfliteWorker":
        """A worker that loads its libraries and waits for `submit`."""
        job = Path(job).absolute()
        job.mkdir(parents=True, exist_ok=True)
        root = str(Path(__file__).resolve().parents[3])  # the folder holding the edgebench package
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
               "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        with open(job / LOG_FILE, "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "edgebench.export.tflite.worker", str(job),
                                        str(os.getpid())], stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=env)
        return cls(process, job)

    def submit(self, onnx_path: Path, *, layout: str, calibration: np.ndarray, mean, std, simplify: bool,
               precisions: Sequence[str]) -> None:
        """The conversion to run: the fp32 ONNX, the calibration images (normalised NCHW) and the precisions."""
        np.save(self.job / CALIBRATION_FILE, np.ascontiguousarray(calibration, dtype=np.float32))
        spec = {"onnx": str(Path(onnx_path).absolute()), "layout": layout, "mean": [float(m) for m in mean],
                "std": [float(s) for s in std], "simplify": bool(simplify), "precisions": list(precisions)}
        partial = self.job / f".{JOB_FILE}.partial"
        partial.write_text(json.dumps(spec))
        os.replace(partial, self.job / JOB_FILE)  # whole or absent: the worker reads it once it exists

    def running(self) -> bool:
        return self.process.poll() is None

    def setup(self) -> Dict:
        """onnx2tf's outcome: {"seconds", "fixes"}; its failure raised as the in-process path says it."""
        return self._raise_failure(self._wait(SETUP_FILE, "onnx2tf finished"))

    def take(self, precision: str, path: Path) -> Dict:
        """Move the precision's .tflite to `path`; {"seconds"} of its conversion in the worker."""
        report = self._raise_failure(self._wait(f"{precision}.json", f"TFLite {precision} was written"))
        os.replace(self.job / report["file"], path)  # same folder tree: a rename, atomic
        return report

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.job, ignore_errors=True)

    def _wait(self, name: str, what: str) -> Dict:
        target = self.job / name
        while True:
            if target.exists():
                return json.loads(target.read_text())
            code = self.process.poll()
            if code is not None and not target.exists():  # looked again: it may have written and exited between
                raise EdgebenchError(f"the TFLite worker process {_exit_text(code)} before {what}"
                                     f"{_last_line(self.job / LOG_FILE)}; the ONNX artifacts are not affected")
            time.sleep(POLL_S)

    @staticmethod
    def _raise_failure(report: Dict) -> Dict:
        if "error" in report:
            raise (WriteError if report.get("write") else EdgebenchError)(report["error"])
        return report


def _exit_text(code: int) -> str:
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"


def _last_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f" ({lines[-1][:200]})" if lines else ""


# ---- the worker process ----------------------------------------------------------------------------------------

def _failure(exc: Exception) -> Dict:
    try:
        raise_if_write_error(exc)
    except WriteError as write:
        return {"error": str(write), "write": True}
    if isinstance(exc, EdgebenchError):
        return {"error": str(exc)}
    return {"error": f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:240]}"}


def _end_with_parent() -> None:
    """On Linux the kernel sends this process SIGTERM when the export's process dies (killed with SIGKILL, say),
    so a conversion under way stops at once; elsewhere the worker notices between steps."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _one_core() -> None:
    """The worker keeps to the last core it may use: TensorFlow's thread pools would otherwise spread over the
    cores the host's one-threaded runtimes are using (ResNet-101's onnx-fp32 stage, on one thread, took 23.7 s beside
    an unpinned worker and 20.9 s beside a pinned one)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) > 1:
        os.sched_setaffinity(0, {cores[-1]})


def run(job: Path, parent: int) -> None:
    """The worker's whole life: its libraries loaded, the job awaited, onnx2tf once, then each precision, each
    reported as it ends."""
    _end_with_parent()
    if os.getppid() != parent:  # gone before the line above took effect
        return
    _one_core()
    for module in ("tensorflow", "onnx2tf"):  # while the host exports the model to ONNX
        require(module, "convert")
    while not (job / JOB_FILE).exists():
        if os.getppid() != parent:  # the export is gone (killed): nothing will come
            return
        time.sleep(POLL_S)
    spec = json.loads((job / JOB_FILE).read_text())
    calibration = np.load(job / CALIBRATION_FILE)
    started = time.perf_counter()
    try:
        with stage_limit("onnx2tf"):
            converter = TfliteConverter(Path(spec["onnx"]), job / "work", Layout(spec["layout"]), calibration,
                                        spec["mean"], spec["std"], simplify=spec["simplify"])
    except Exception as exc:  # as in process: a converter that cannot start costs the TFLite format only
        write_json(job / SETUP_FILE, _failure(exc))
        return
    write_json(job / SETUP_FILE, {"seconds": round(time.perf_counter() - started, 3), "fixes": dict(converter.fixes)})
    try:
        for name in spec["precisions"]:
            if os.getppid() != parent:  # the export is gone: no one will take the rest
                return
            started = time.perf_counter()
            report: Dict = {}
            try:
                with stage_limit(f"tflite-{name}"):
                    write_bytes(job / f"model.{name}.tflite", converter.convert(Precision(name)))
                report = {"seconds": round(time.perf_counter() - started, 3), "file": f"model.{name}.tflite"}
            except Exception as exc:  # each precision fails alone, as in process
                report = _failure(exc)
            write_json(job / f"{name}.json", report)
    finally:
        converter.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not Path(args[0]).is_dir() or not args[1].isdigit():
        print("usage: python -m edgebench.export.tflite.worker JOB PARENT_PID (JOB: the folder job.json will be "
              "written to)", file=sys.stderr)
        return 2
    run(Path(args[0]), int(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
