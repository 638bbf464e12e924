import shutil
import subprocess

import pytest

from tests.conftest import ROOT

HADOLINT = shutil.which("hadolint", path=str(ROOT / ".venv" / "bin")) or shutil.which("hadolint")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (pip install 'edgebench[dev]')")
@pytest.mark.parametrize("name", ["host.Dockerfile", "agent.Dockerfile"])
def test_dockerfiles_lint_clean(name):
    done = subprocess.run([HADOLINT, "--no-color", str(ROOT / "docker" / name)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_agent_image_has_no_host_dependencies():
    text = (ROOT / "docker" / "agent.Dockerfile").read_text()
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs and not any("torch" in line or "tensorflow " in line for line in installs)
    assert "COPY edgebench/" not in text and "COPY device_agent/" in text
