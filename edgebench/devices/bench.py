"""`edgebench bench`: deploy the agent and a bundle, run it on the device, bring the result home.

A result is saved on the device after every artifact. When a run is cut short (a dropped connection, Ctrl-C),
the finished artifacts stay there, and the same command continues where it stopped.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from edgebench.devices.spec import DeviceSpec
from edgebench.errors import EdgebenchError
from edgebench.fileio import atomic_path

AGENT_SOURCE = Path(__file__).resolve().parents[2] / "device_agent"
RUNTIMES = {"onnx": ("onnxruntime",), "tflite": ("ai_edge_litert", "tflite_runtime", "tensorflow")}
INSTALL = {"numpy": "pip install numpy", "onnx": "pip install onnxruntime", "tflite": "pip install ai-edge-litert"}
# Runs on the device: its Python version and which of the agent's packages import.
PROBE = """
import importlib.util, json, sys
names = ["numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime", "tensorflow", "psutil"]
print(json.dumps({"python": sys.version.split()[0], "modules": {n: importlib.util.find_spec(n) is not None for n in names}}))
"""


def result_name(bundle: Path, device: str) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{bundle.name}__{device}__{stamp}") + ".json"


def probe_local() -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    return json.loads(done.stdout)


def check_runtimes(probe: dict, formats: Sequence[str], where: str) -> List[str]:
    """Errors out when nothing in the bundle can run; returns warnings for formats that cannot."""
    modules = probe["modules"]
    if not modules.get("numpy"):
        raise EdgebenchError(f"{where}: numpy is not installed for Python {probe['python']}: {INSTALL['numpy']} "
                             f"{INSTALL['onnx'].split()[-1]}")
    missing = [f for f in formats if not any(modules.get(m) for m in RUNTIMES.get(f, ()))]
    if missing and len(missing) == len(set(formats)):
        raise EdgebenchError(f"{where}: no runtime for {', '.join(missing)} is installed: "
                             + "; ".join(INSTALL[f] for f in missing if f in INSTALL))
    return [f"{where}: no runtime for {f} artifacts ({INSTALL.get(f, '')}); they will be reported as failed"
            for f in missing]


def run_bench(bundle: Path, device: DeviceSpec, results: Path, agent_args: Sequence[str],
              log: Callable[[str], None] = print) -> Path:
    bundle = Path(bundle).resolve()
    manifest_path = bundle / "manifest.json"
    if not manifest_path.is_file():
        raise EdgebenchError(f"{bundle} is not a bundle: manifest.json is missing")
    formats = sorted({a["format"] for a in json.loads(manifest_path.read_text())["artifacts"]})
    threads = ["--threads", str(device.threads)] if device.threads and "--threads" not in agent_args else []
    target_folder = results / re.sub(r"[^A-Za-z0-9._-]+", "_", device.name)
    if device.kind == "local":
        return _run_local(bundle, device, target_folder, [*threads, *agent_args], formats, log)
    return _run_ssh(bundle, device, target_folder, [*threads, *agent_args], formats, log)


def _run_local(bundle: Path, device: DeviceSpec, target_folder: Path, agent_args: Sequence[str],
               formats: Sequence[str], log) -> Path:
    for warning in check_runtimes(probe_local(), formats, "this machine"):
        log(f"warning: {warning}")
    target_folder.mkdir(parents=True, exist_ok=True)
    partial = target_folder / f".{bundle.name}.partial.json"
    resume = ["--resume", str(partial)] if partial.is_file() else []
    command = [sys.executable, "-m", "device_agent", "run", str(bundle), "--out", str(partial),
               "--device-name", device.name, *resume, *agent_args]
    code = subprocess.run(command, cwd=AGENT_SOURCE.parent, stdout=subprocess.DEVNULL).returncode
    return _finish(partial, target_folder / result_name(bundle, device.name), code, log, lambda p: p.unlink())


def _run_ssh(bundle: Path, device: DeviceSpec, target_folder: Path, agent_args: Sequence[str],
             formats: Sequence[str], log) -> Path:
    from edgebench.devices.deploy import sync
    from edgebench.devices.remote import Remote, quote

    remote = Remote(device)
    log(f"{device.name}: checking {device.destination}:{device.port} ...")
    found = remote.run(f"{device.python} -c {quote(PROBE)}", check=False)
    if found.returncode != 0:
        raise EdgebenchError(f"{device.name}: '{device.python}' does not run there ({_last(found.stderr)}): install "
                             "Python 3.9+ (Raspberry Pi OS: sudo apt install python3-venv; Termux: pkg install python) "
                             "or set python in the devices file")
    for warning in check_runtimes(json.loads(found.stdout.strip().splitlines()[-1]), formats, device.name):
        log(f"warning: {warning}")
    workdir = device.workdir.rstrip("/")
    copied_agent = sync(remote, device.python, AGENT_SOURCE, f"{workdir}/device_agent")
    copied_bundle = sync(remote, device.python, bundle, f"{workdir}/bundles/{bundle.name}")
    log(f"{device.name}: copied {copied_agent[0] + copied_bundle[0]} changed file(s), "
        f"{(copied_agent[1] + copied_bundle[1]) / 2**20:.2f} MiB (checksums verified)")
    partial = f"results/{bundle.name}.partial.json"
    has_partial = remote.run(f"test -f {quote(workdir + '/' + partial)}", check=False).returncode == 0
    resume = ["--resume", partial] if has_partial else []
    command = " ".join(quote(part) for part in [
        device.python, "-m", "device_agent", "run", f"bundles/{bundle.name}", "--out", partial,
        "--device-name", device.name, *resume, *agent_args])
    code = remote.stream(f"cd {quote(workdir)} && mkdir -p results && {command}", lambda line: log(f"  {line}"))

    def fetch(local: Path) -> None:
        remote.copy_from(f"{workdir}/{partial}", str(local))

    def forget(_: Path) -> None:
        remote.run(f"rm -f {quote(workdir + '/' + partial)}", check=False)

    target_folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        local_partial = Path(tmp) / "partial.json"
        try:
            fetch(local_partial)
        except EdgebenchError:
            if code == 255:
                raise EdgebenchError(f"the connection to {device.name} dropped before any result was saved; run the "
                                     "same command again") from None
            raise
        return _finish(local_partial, target_folder / result_name(bundle, device.name), code, log, forget)


def _finish(partial: Path, final: Path, code: int, log, forget: Callable[[Path], None]) -> Path:
    if not partial.is_file():
        raise EdgebenchError(f"the agent wrote no result (exit {code})")
    result = json.loads(partial.read_text())
    runs = result.get("runs", [])
    if not result.get("complete"):
        raise EdgebenchError(f"the run stopped early (exit {code}{': ' + result['error'] if result.get('error') else ''}); "
                             f"{len(runs)} finished artifact(s) are kept on the device: run the same command again "
                             "to continue")
    with atomic_path(final) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    forget(partial)
    failed = [run for run in runs if run.get("error")]
    log(f"result: {final} ({len(runs) - len(failed)} of {len(runs)} artifacts measured)")
    if failed:
        raise EdgebenchError(f"{len(failed)} artifact(s) failed on the device, first: {failed[0]['error']} "
                             f"(result kept: {final})")
    return final


def _last(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"
