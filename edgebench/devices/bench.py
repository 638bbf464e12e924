"""`edgebench bench`: deploy the agent and a bundle, run it on the device, bring the result home.

The agent saves its result on the device after every round. When a run is cut short (a dropped connection,
Ctrl-C), it stays there: the same command keeps its finished configurations and measures again those that were
cut off in their rounds (the configurations of an interleaved comparison must share their rounds).
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

from device_agent.bundle import load_bundle
from device_agent.cli import EXIT_USAGE
from device_agent.formats import FORMATS, probe_modules, runtime_of
from device_agent.formats import RUNTIMES as RUNTIMES_TABLE
from device_agent.runner import select_artifacts
from edgebench.devices.deploy import sync
from edgebench.devices.local import AGENT_SOURCE, agent_command, run_agent_here
from edgebench.devices.remote import Remote, quote
from edgebench.devices.spec import DeviceSpec
from edgebench.errors import EdgebenchError
from edgebench.fileio import host_errors, os_errors_named, write_json
from edgebench.report.load import read_result

# From the contract table: the modules that run each format, and what to install for it.
RUNTIMES = {name: runtime_of(name).modules + runtime_of(name).fallback_modules for name in FORMATS}
INSTALL = {"numpy": "pip install numpy", **{name: runtime_of(name).install for name in FORMATS}}
PROBED = ("numpy", *probe_modules(), "psutil")
# Runs on the device: its Python version and which of the agent's packages import.
PROBE = f"""
import importlib.util, json, sys
names = {json.dumps(list(PROBED))}
print(json.dumps({{"python": sys.version.split()[0], "modules": {{n: importlib.util.find_spec(n) is not None for n in names}}}}))
"""
# What a device without numpy or any runtime needs: numpy and every runtime of the table.
MISSING_PACKAGES = " ".join([INSTALL["numpy"], *dict.fromkeys(r.install.split()[-1] for r in RUNTIMES_TABLE.values())])


def runtimes_found(probe: dict) -> List[str]:
    """The runtime modules the probe found, in the table's order."""
    return [module for module in probe_modules() if probe["modules"].get(module)]


class ArtifactsFailed(EdgebenchError):
    """Some artifacts failed on the device; the result, with their errors, was kept at `path`."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path


def result_name(bundle: Path, device: str) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{bundle.name}__{device}__{stamp}") + ".json"


def probe_local() -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    return json.loads(done.stdout)


def parse_probe(stdout: str, where: str) -> dict:
    """The probe's JSON, the last line of its output (a login banner may come first)."""
    try:
        probe = json.loads(stdout.strip().splitlines()[-1])
        if isinstance(probe, dict) and isinstance(probe.get("modules"), dict) and "python" in probe:
            return probe
    except (ValueError, IndexError):
        pass
    raise EdgebenchError(f"{where}: the Python check printed no answer ({stdout.strip()[-100:] or 'no output'}): "
                         "is python in the devices file a Python 3.9+ interpreter?")


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


def check_bundle(bundle: Path, artifacts: Optional[Sequence[str]] = None) -> List[str]:
    """Refuse, before anything is copied, a bundle that the agent would refuse; returns its formats."""
    with host_errors():
        loaded = load_bundle(str(bundle))
        loaded.check()
        chosen = select_artifacts(loaded, artifacts)
    return sorted({a["format"] for a in chosen})


def run_bench(bundle: Path, device: DeviceSpec, results: Path, agent_args: Sequence[str],
              log: Callable[[str], None] = print, artifacts: Optional[Sequence[str]] = None) -> Path:
    formats = check_bundle(Path(bundle), artifacts)  # named as the user gave it
    bundle = Path(bundle).resolve()
    if results.exists() and not results.is_dir():
        raise EdgebenchError(f"--results {results} is not a folder: give a folder for the result files")
    threads = ["--threads", str(device.threads)] if device.threads and "--threads" not in agent_args else []
    target_folder = results / re.sub(r"[^A-Za-z0-9._-]+", "_", device.name)
    if device.kind == "local":
        return _run_local(bundle, device, target_folder, [*threads, *agent_args], formats, log)
    return _run_ssh(bundle, device, target_folder, [*threads, *agent_args], formats, log)


def _run_local(bundle: Path, device: DeviceSpec, target_folder: Path, agent_args: Sequence[str],
               formats: Sequence[str], log) -> Path:
    for warning in check_runtimes(probe_local(), formats, "this machine"):
        log(f"warning: {warning}")
    with os_errors_named(target_folder):
        target_folder.mkdir(parents=True, exist_ok=True)
    partial = target_folder / f".{bundle.name}.partial.json"
    if partial.is_file() and _read_result(partial) is None:
        log(f"warning: {partial} from an earlier run is not a readable result; starting afresh")
        partial.unlink()
    resume = ["--resume", str(partial.absolute())] if partial.is_file() else []
    run = run_agent_here(bundle, partial.absolute(), ["--device-name", device.name, *resume, *agent_args], log)
    code, said = run.code, run.said
    _check_refused(code, said, "this machine")
    return _finish(partial, target_folder / result_name(bundle, device.name), code, log, lambda p: p.unlink())


def _check_refused(code: int, said: Sequence[str], where: str) -> None:
    """The agent refused an option or the resume (nothing measured, nothing written): say why, and never take
    a result an earlier run left behind for this run's."""
    if code == EXIT_USAGE:
        last = next((line.strip() for line in reversed(said) if line.strip()), "no message")
        raise EdgebenchError(f"the agent on {where} refused the run: {last.removeprefix('error: ')[:300]}")


def _prepare_remote(remote: Remote, bundle: Path, device: DeviceSpec, formats: Sequence[str], log) -> str:
    """Check the device's Python and runtimes, copy what changed of the agent and the bundle; its workdir."""
    log(f"{device.name}: checking {device.destination}:{device.port} ...")
    found = remote.run(f"{device.python} -c {quote(PROBE)}", check=False)
    if found.returncode != 0:
        raise EdgebenchError(f"{device.name}: '{device.python}' does not run there ({_last(found.stderr)}): install "
                             "Python 3.9+ (Raspberry Pi OS: sudo apt install python3-venv; Termux: pkg install python) "
                             "or set python in the devices file")
    for warning in check_runtimes(parse_probe(found.stdout, device.name), formats, device.name):
        log(f"warning: {warning}")
    workdir = device.workdir.rstrip("/")
    copied_agent = sync(remote, device.python, AGENT_SOURCE, f"{workdir}/device_agent")
    copied_bundle = sync(remote, device.python, bundle, f"{workdir}/bundles/{bundle.name}")
    log(f"{device.name}: copied {copied_agent[0] + copied_bundle[0]} changed file(s), "
        f"{(copied_agent[1] + copied_bundle[1]) / 2**20:.2f} MiB (checksums verified)")
    return workdir


def _run_ssh(bundle: Path, device: DeviceSpec, target_folder: Path, agent_args: Sequence[str],
             formats: Sequence[str], log) -> Path:
    remote = Remote(device)
    workdir = _prepare_remote(remote, bundle, device, formats, log)
    partial = f"results/{bundle.name}.partial.json"
    has_partial = remote.run(f"test -f {quote(workdir + '/' + partial)}", check=False).returncode == 0
    resume = ["--resume", partial] if has_partial else []
    command = " ".join(quote(part) for part in agent_command(f"bundles/{bundle.name}", partial,
                                                             ["--device-name", device.name, *resume, *agent_args],
                                                             python=device.python))
    said: List[str] = []

    def show(line: str) -> None:
        said.append(line)
        log(f"  {line}")

    code = remote.stream(f"cd {quote(workdir)} && mkdir -p results && {command}", show)
    _check_refused(code, said, device.name)

    def fetch(local: Path) -> None:
        remote.copy_from(f"{workdir}/{partial}", str(local))

    def forget(_: Path) -> None:
        remote.run(f"rm -f {quote(workdir + '/' + partial)}", check=False)

    with os_errors_named(target_folder):
        target_folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        local_partial = Path(tmp) / "partial.json"
        try:
            fetch(local_partial)
        except EdgebenchError:
            if code == 255:
                raise EdgebenchError(f"the connection to {device.name} dropped before any result was saved; run the "
                                     "same command again") from None
            last = next((line.strip() for line in reversed(said) if line.strip()), "no message")
            raise EdgebenchError(f"the agent on {device.name} wrote no result (exit {code}): {last[:200]}") from None
        return _finish(local_partial, target_folder / result_name(bundle, device.name), code, log, forget)


def _read_result(path: Path) -> Optional[dict]:
    """The agent's result at `path`, or None when it is not one (damaged, edited, half-copied)."""
    try:
        return read_result(path)
    except EdgebenchError:
        return None


def stopped_early(runs: Sequence[dict]) -> str:
    """What a cut-off result keeps: `1 finished configuration(s) kept, 2 cut off after 3 round(s) to measure again`."""
    cut = [run["partial"].get("rounds_done") for run in runs if isinstance(run.get("partial"), dict)]
    cut = [done if isinstance(done, int) else 0 for done in cut]
    text = f"{len(runs) - len(cut)} finished configuration(s) kept"
    if cut:
        rounds = str(min(cut)) if min(cut) == max(cut) else f"{min(cut)}-{max(cut)}"
        text += f", {len(cut)} cut off after {rounds} round(s) to measure again"
    return text


def _finish(partial: Path, final: Path, code: int, log, forget: Callable[[Path], None]) -> Path:
    if not partial.is_file():
        raise EdgebenchError(f"the agent wrote no result (exit {code})")
    result = _read_result(partial)
    if result is None:
        forget(partial)
        raise EdgebenchError(f"the agent's result is not readable (exit {code}); it was removed: run the same "
                             "command again")
    runs = result["runs"]
    if not result.get("complete"):
        if not runs:  # nothing measured that a retry could keep
            forget(partial)
            if code == 255:  # ssh's own exit: the connection dropped, not the agent
                raise EdgebenchError("the connection dropped before the first round was saved: run the same "
                                     "command again")
            raise EdgebenchError(f"the agent failed (exit {code}): {result.get('error') or 'no result'}")
        raise EdgebenchError(f"the run stopped early (exit {code}{': ' + result['error'] if result.get('error') else ''}); "
                             f"{stopped_early(runs)} on the device: run the same command again to continue")
    write_json(final, result)
    forget(partial)
    failed = [run for run in runs if run.get("error")]
    log(f"result: {final} ({len(runs) - len(failed)} of {len(runs)} artifacts measured)")
    if failed:
        raise ArtifactsFailed(f"{len(failed)} artifact(s) failed on the device, first: {failed[0]['error']} "
                              f"(result kept: {final})", final)
    return final


def _last(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"
