"""`--executor ray` on a real Ray cluster: one local cluster of 2 CPUs for the whole session (about 4 s to
start), a task's error not retried, a killed worker's task rerun."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from edgebench.executor import make_executor  # noqa: E402
from tests.test_executor import Job, attempts, square  # noqa: E402

# Ray workers import edgebench (installed) but not the tests: ship this module's and the shared tasks by value.
ray.cloudpickle.register_pickle_by_value(sys.modules["tests.test_executor"])


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster, its own temp folder (short: Ray's socket paths have a length limit)."""
    if ray.is_initialized():
        yield
        return
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_runs_every_task_and_reports_a_task_error_once(ray_cluster, tmp_path):
    jobs = [Job(number=n, folder=str(tmp_path), fail=(n == 2)) for n in (1, 2, 3)]
    with make_executor("ray") as executor:  # joins the session's cluster, leaves it running
        assert executor.slots == 2 and executor.describe() == "ray (1 nodes, 2 CPUs)"
        outcomes = sorted(executor.map(square, jobs, names=["a", "b", "c"]), key=lambda o: o.index)
    assert ray.is_initialized()
    assert [o.value and o.value["square"] for o in outcomes] == [1, None, 9]
    assert outcomes[1].error == "job 2 refused" and attempts(tmp_path, 2) == 1
    node = ray.get_runtime_context().get_node_id()[:8]
    assert all(o.node.endswith(f"node {node}") for o in outcomes)
    assert os.getpid() not in {o.value["pid"] for o in outcomes if o.ok}


def test_ray_reruns_the_task_of_a_killed_worker(ray_cluster, tmp_path):
    jobs = [Job(number=4, folder=str(tmp_path), die_once=True)]
    outcomes = list(make_executor("ray").map(square, jobs, names=["dies"]))
    assert outcomes[0].ok and outcomes[0].value["square"] == 16 and attempts(tmp_path, 4) == 2


def test_ray_without_ray_installed_says_the_install_line(tmp_path):
    import subprocess

    code = ("import sys; sys.modules['ray'] = None\n"
            "from edgebench.executor import make_executor\n"
            "make_executor('ray')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "ray is not installed: pip install 'edgebench[ray]'" in done.stderr
