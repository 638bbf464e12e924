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


def _docker_test(env_path: str, **env) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(["bash", str(ROOT / "docker" / "test.sh")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": env_path, **env})


def _dockerd_pids() -> set:
    done = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True)
    return set(done.stdout.split())


def test_docker_missing_is_one_line_and_exit_1(tmp_path):
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("dirname", "bash"):
        (tools / tool).symlink_to(shutil.which(tool))
    done = _docker_test(str(tools))
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["make test-docker: docker is not installed (Debian: apt-get install -y "
                                        "docker.io)"]


@pytest.mark.skipif(shutil.which("dockerd") is None or not _dockerd_pids(),
                    reason="needs Debian's docker.io with its daemon running (a second one then cannot start)")
def test_a_daemon_that_cannot_start_is_one_line_exit_1_and_nothing_left_running(tmp_path):
    before = _dockerd_pids()
    # the CLI pointed at a socket nobody serves: the script starts its own dockerd, which finds the running
    # daemon's pid file and exits
    done = _docker_test("/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                        DOCKER_HOST=f"unix://{tmp_path}/nobody.sock")
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("make test-docker: dockerd did not start: ") and "pid file" in line, line
    assert _dockerd_pids() == before


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("docker") is None, reason="docker is not installed")
def test_make_test_docker_builds_and_runs_both_images():
    import os

    done = subprocess.run(["bash", str(ROOT / "docker" / "test.sh")], capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "DOCKER_ARM64": "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[docker] x86_64: 3 artifact(s) measured and scored" in done.stderr
