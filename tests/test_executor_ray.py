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
    # The machine is shared: another process's memory must not make Ray's monitor kill our workers.
    os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")
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


def test_ray_cancels_running_tasks_when_the_caller_stops(ray_cluster, tmp_path):
    import time

    from tests.test_executor import _alive

    jobs = [Job(number=1, folder=str(tmp_path)), Job(number=2, folder=str(tmp_path), sleep=60)]
    outcomes = make_executor("ray").map(square, jobs)
    assert next(outcomes).value["square"] == 1
    deadline = time.time() + 30
    while attempts(tmp_path, 2) == 0 and time.time() < deadline:
        time.sleep(0.05)
    sleeper = int(next(tmp_path.glob("attempt-2-*")).read_text())
    outcomes.close()  # what Ctrl-C in the caller does too: the pending task is cancelled, its worker ended
    deadline = time.time() + 20
    while _alive(sleeper) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(sleeper)


def _tiny_ablation(names, epochs=1):
    from edgebench.ablation import AblationSpec
    from edgebench.train import TrainSpec

    return AblationSpec(arch="vgg19", variants=tuple(names),
                        train=TrainSpec(epochs=epochs, batch_size=16, lr=0.05, train_limit=16, augment=()))


@pytest.mark.slow  # a real training on a Ray worker: 7.6 s on a quiet machine, 36 s on the busy one
def test_ablation_on_ray_names_a_failed_variant_and_keeps_the_others(ray_cluster, tmp_path):
    import json

    from edgebench.ablation import run_ablation
    from edgebench.ablation.run import SETTINGS_FILE, _settings
    from edgebench.errors import EdgebenchError

    spec = _tiny_ablation(["vgg19-v8", "vgg19-v7"])
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(_settings(spec)))
    (tmp_path / "checkpoints" / "vgg19-v7.pt").write_bytes(b"not a checkpoint")  # that variant's own error
    lines = []
    with pytest.raises(EdgebenchError) as caught:
        run_ablation(spec, tmp_path, log=lines.append, executor="ray")
    message = str(caught.value)
    assert message.startswith("1 of 2 variants failed (vgg19-v7: checkpoint ") and "is corrupt" in message
    assert "the same command retries the failed ones" in message and "\n" not in message
    row = json.loads((tmp_path / "variants" / "vgg19-v8.json").read_text())  # the other one finished
    assert row["params"] == 151_254 and row["epochs"] == 1 and row["train_images"] == 16  # 10 classes
    assert not (tmp_path / "variants" / "vgg19-v7.json").exists() and not (tmp_path / "ablation.md").exists()
    log = (tmp_path / "logs" / "vgg19-v8.log").read_text()
    assert log.startswith("== vgg19-v8 (fire > grouped-convolution > no-fc > grouped-pointwise-shuffle) on ")
    assert "epoch 1/1  loss" in log
    status = [line for line in lines if line.startswith("[")]
    assert len(status) == 2 and any("variant vgg19-v7 FAILED (checkpoint" in line for line in status)
    assert any(line.startswith("[") and "variant vgg19-v8 done on " in line for line in status)


@pytest.mark.slow  # three executors, two variants each: about a minute
def test_same_ablation_table_under_every_executor(ray_cluster, tmp_path):
    from edgebench.ablation import run_ablation

    spec = _tiny_ablation(["vgg19-v8", "vgg19-v10"])
    tables = {}
    for executor in ("local", "process:2", "ray"):
        out = tmp_path / executor.replace(":", "-")
        run_ablation(spec, out, log=lambda line: None, executor=executor)
        tables[executor] = (out / "ablation.md").read_text()
        assert sorted(p.name for p in (out / "logs").iterdir()) == ["vgg19-v10.log", "vgg19-v8.log"]
    assert tables["process:2"] == tables["local"] and tables["ray"] == tables["local"]
    assert "| vgg19-v8 |" in tables["local"] and "| vgg19-v10 |" in tables["local"]


@pytest.mark.slow  # a pruning run, then its study exported twice: about a minute
def test_prune_study_exports_in_parallel_with_the_same_table(trained_checkpoint, tmp_path):
    from edgebench.prune.pipeline import prune_checkpoint
    from edgebench.prune.spec import PruneSpec
    from edgebench.prune.study import run_study

    folder = tmp_path / "pruned"
    prune_checkpoint(str(trained_checkpoint), None, PruneSpec(iterations=2, finetune_epochs=0), folder,
                     log=lambda line: None)
    lines = []
    local = run_study(folder, tmp_path / "local", min_seconds=0.05, log=lambda line: None)
    parallel = run_study(folder, tmp_path / "process", min_seconds=0.05, log=lines.append, executor="process:2")

    def timeless(rows):
        return [{key: value for key, value in row.items() if not key.endswith("_p50_ms")} for row in rows]

    assert [row["iteration"] for row in parallel] == [0, 1, 2] and timeless(parallel) == timeless(local)
    exported = [line for line in lines if line.startswith("[") and "export of iteration" in line]
    assert len(exported) == 3 and all(" done on " in line and " pid " in line for line in exported)
    measured = [line for line in lines if line.startswith("== iteration")]
    assert [line.split(":")[0] for line in measured] == ["== iteration 0", "== iteration 1", "== iteration 2"]
