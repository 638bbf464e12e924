"""One seam for running many independent tasks: `local` (in process, in order), `process:N` (worker
processes here) or `ray[:ADDRESS]` (a Ray cluster).

    from edgebench.executor import make_executor

    with make_executor("process:2") as executor:
        for outcome in executor.map(train_variant, specs, names=names, cpus=1, gpus=0):
            outcome.name, outcome.value, outcome.error, outcome.node

`fn` is a picklable top-level function of one keyword-only dataclass spec; outcomes come as tasks finish.
A task's exception is that task's outcome (`error`, one line) and is not retried; a failed write (a full disk) is
marked `write_failed`, and `outcome.stop_on_write_failure` raises it again where the caller would otherwise go on to
the next task; a lost worker or node reruns the task (it resumes from what it wrote). Ctrl-C stops every running
task."""

from __future__ import annotations

from typing import Callable, Dict, Union

from edgebench.executor.base import Executor
from edgebench.executor.cluster import RayExecutor
from edgebench.executor.local import LocalExecutor
from edgebench.executor.outcome import MAX_RETRIES, Outcome
from edgebench.executor.process import ProcessExecutor
from edgebench.executor.spec import KINDS, ExecutorSpec, parse_executor, require_ray

__all__ = ["EXECUTORS", "Executor", "ExecutorSpec", "KINDS", "MAX_RETRIES", "Outcome", "make_executor",
           "parse_executor", "require_ray"]


def _local(spec: ExecutorSpec) -> Executor:
    return LocalExecutor()


def _process(spec: ExecutorSpec) -> Executor:
    return ProcessExecutor(spec.workers)


def _ray(spec: ExecutorSpec) -> Executor:
    return RayExecutor(spec.address)


EXECUTORS: Dict[str, Callable[[ExecutorSpec], Executor]] = {"local": _local, "process": _process, "ray": _ray}


def make_executor(spec: Union[str, ExecutorSpec] = "local") -> Executor:
    """An executor for 'local', 'process:N', 'ray' or 'ray:ADDRESS' (or a parsed ExecutorSpec); use it with
    `with`: a Ray cluster it started is stopped, worker processes are ended."""
    parsed = parse_executor(spec) if isinstance(spec, str) else spec
    return EXECUTORS[parsed.kind](parsed)
