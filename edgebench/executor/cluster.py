"""`ray[:ADDRESS]`: tasks on a Ray cluster, one Ray task per item with its CPUs and GPUs. Without an address a
local cluster sized to this machine is started (and stopped at the end); `auto`, `HOST:6379` or
`ray://HOST:10001` joins a running one. A task whose worker or node dies is retried by Ray (MAX_RETRIES
times); a task's own exception is its outcome and is not retried."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Sequence

from edgebench.errors import require
from edgebench.executor.base import Executor
from edgebench.executor.outcome import MAX_RETRIES, Outcome, call_task, task_names


def _run_on_node(fn: Callable[[Any], Any], spec: Any):
    import ray  # on the worker: Ray is there by definition

    context = ray.get_runtime_context()
    node = f"{ray.util.get_node_ip_address()} node {context.get_node_id()[:8]}"
    return (*call_task(fn, spec), node)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: Optional[str] = None):
        self.address = address
        self._started = False

    def __enter__(self) -> "RayExecutor":
        ray = require("ray", "ray")  # heavy (about 1 s): only when this executor is used
        if not ray.is_initialized():  # a caller (a test, a notebook) may have connected already
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
            self._started = True
        return self

    def __exit__(self, *exc_info) -> None:
        if self._started:
            import ray  # ray: optional extra, loaded only when this executor runs

            ray.shutdown()
            self._started = False

    @property
    def slots(self) -> int:
        import ray  # ray: optional extra, loaded only when this executor runs

        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def describe(self) -> str:
        import ray  # ray: optional extra, loaded only when this executor runs

        nodes = [node for node in ray.nodes() if node.get("Alive")]
        resources = ray.cluster_resources()
        gpus = f", {int(resources['GPU'])} GPUs" if resources.get("GPU") else ""
        return f"ray ({len(nodes)} nodes, {int(resources.get('CPU', 0))} CPUs{gpus})"

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, names: Optional[Sequence[str]] = None,
            cpus: float = 1, gpus: float = 0) -> Iterator[Outcome]:
        import ray  # ray: optional extra, loaded only when this executor runs
        from ray.exceptions import RayError  # ray: optional extra, loaded only when this executor runs

        items = list(items)
        labels = task_names(items, names)
        remote = ray.remote(_run_on_node).options(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES,
                                                  retry_exceptions=False)
        pending: Dict[Any, int] = {remote.remote(fn, item): index for index, item in enumerate(items)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(ready[0])
                try:
                    value, error, detail, seconds, write_failed, node = ray.get(ready[0])
                except RayError as exc:  # the worker or node was lost more than MAX_RETRIES times
                    yield Outcome(name=labels[index], index=index, attempts=MAX_RETRIES + 1,
                                  error=f"lost its worker {MAX_RETRIES + 1} times: {type(exc).__name__}")
                    continue
                yield Outcome(name=labels[index], index=index, value=value, error=error, detail=detail, node=node,
                              seconds=seconds, write_failed=write_failed)
        finally:
            for ref in pending:  # Ctrl-C or the caller stopped reading: nothing keeps running
                ray.cancel(ref, force=True)
