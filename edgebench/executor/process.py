"""`process:N`: N worker processes on this machine (spawned: no state inherited from the caller). A worker
that dies (killed, out of memory) takes the pool down: a new pool reruns the unfinished tasks, each up to
MAX_RETRIES times; tasks resume from what they wrote (e.g. the last finished epoch)."""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence

from edgebench.executor.base import Executor
from edgebench.executor.outcome import MAX_RETRIES, Outcome, call_task, host_node, task_names

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _start_worker(threads: int) -> None:
    # Each worker gets its share of the cores, set before the task imports torch or numpy.
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    # One display for the whole run: the caller's. A task keeps its own log; its error comes back as its outcome.
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    os.close(quiet)


def _run_in_worker(fn: Callable[[Any], Any], spec: Any):
    return (*call_task(fn, spec), host_node())


class ProcessExecutor(Executor):
    name = "process"

    def __init__(self, workers: int):
        self.workers = workers

    @property
    def slots(self) -> int:
        return self.workers

    def describe(self) -> str:
        return f"process:{self.workers} ({self.workers} worker processes here)"

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, names: Optional[Sequence[str]] = None,
            cpus: float = 1, gpus: float = 0) -> Iterator[Outcome]:
        items = list(items)
        labels = task_names(items, names)
        attempts = [1] * len(items)
        todo = list(range(len(items)))
        while todo:
            lost: List[int] = []
            for index, result in self._round(fn, items, todo, max(1, int(cpus))):
                if result is None:
                    lost.append(index)
                    continue
                value, error, detail, seconds, write_failed, node = result
                yield Outcome(name=labels[index], index=index, value=value, error=error, detail=detail, node=node,
                              seconds=seconds, attempts=attempts[index], write_failed=write_failed)
            todo = []
            for index in sorted(lost):
                if attempts[index] > MAX_RETRIES:
                    yield Outcome(name=labels[index], index=index, attempts=attempts[index],
                                  error=f"its worker process died {attempts[index]} times (killed or out of memory)")
                else:
                    attempts[index] += 1
                    todo.append(index)

    def _round(self, fn, items: List[Any], todo: List[int], threads: int):
        """One pool over `todo`: (index, result) as each finishes, (index, None) for each task the pool lost."""
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(todo)), mp_context=get_context("spawn"),
                                   initializer=_start_worker, initargs=(threads,))
        finished = False
        try:
            pending: Dict[Any, int] = {pool.submit(_run_in_worker, fn, items[index]): index for index in todo}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        result = None
                    yield index, result
            finished = True
        finally:
            _close(pool, finished)


def _close(pool: ProcessPoolExecutor, finished: bool) -> None:
    """A finished pool closes normally; an interrupted one (Ctrl-C, an error, the caller stopped reading)
    has its workers stopped at once so that nothing keeps running in the background."""
    if finished:
        pool.shutdown(wait=True)
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way to stop running tasks
    for process in processes:
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=10)
