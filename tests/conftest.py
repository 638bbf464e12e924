from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# A run started in the background of a shell without job control inherits SIGINT ignored, and so would every agent
# the tests start and then interrupt (a Python started with SIGINT ignored keeps ignoring it). The tests need Ctrl-C
# to mean what it means in a terminal: with a handler here, each child starts with the default again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


def shared_dataset(name: str) -> Path:
    path = SHARED_DATASETS / name
    if not path.exists():
        pytest.skip(f"{path} is not available (the shared data sets exist only on development machines)")
    return path


def run_agent(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "device_agent", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


FAST_TIMING = ("--warmup-runs", "2", "--warmup-seconds", "0", "--min-runs", "5", "--min-seconds", "0.05")


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory) -> Path:
    """test_resnet trained briefly on the embedded digits: a real, small, trained model."""
    from edgebench.train import TrainSpec, train_model

    out = tmp_path_factory.mktemp("ckpt") / "test_resnet.pt"
    spec = TrainSpec.for_schedule("onecycle", epochs=8, batch_size=32, lr=0.1, augment=("crop",))
    train_model("test_resnet", None, spec, out, log=lambda line: None)
    return out


@pytest.fixture(scope="session")
def int8_bundle(trained_checkpoint, tmp_path_factory) -> Path:
    from edgebench.export.pipeline import export_bundle
    from edgebench.export.spec import ExportSpec, Precision

    out = tmp_path_factory.mktemp("bundle") / "test_resnet"
    export_bundle("test_resnet", out, ExportSpec(precisions=(Precision.FP32, Precision.INT8)),
                  checkpoint=str(trained_checkpoint), log=lambda line: None)
    return out


@pytest.fixture(scope="session")
def agent_result(int8_bundle, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("results") / "result.json"
    done = run_agent("run", str(int8_bundle), "--out", str(out), *FAST_TIMING)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())
