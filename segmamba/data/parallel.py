"""Run a function over cases in worker processes, in order, with a progress display.

A worker that dies (SIGKILL from the out-of-memory killer, a crash in native code) is an error naming the
step and the case it held, raised within seconds, never a hang: ``concurrent.futures.ProcessPoolExecutor``
fails every pending task with ``BrokenProcessPool``, and each worker records in shared memory which case it
is working on. The surviving workers are stopped with SIGTERM, on which they mark their case as interrupted,
so the case left marked as started is the one whose worker died.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from segmamba.errors import WorkerDiedError

#: Per-case states in the shared array (a positive value is the pid of the worker working on the case).
PENDING, DONE, INTERRUPTED = 0, -1, -2

_STATES = None  # the shared state array, in a worker process
_CURRENT = None  # index of the case this worker is working on


def map_cases(func: Callable[[Any], Any], items: list, workers: int = 1, desc: str = "cases") -> Iterator[Any]:
    """Yield ``func(item)`` for every item, in order, using ``workers`` processes (1 = in this process).

    Shows a tqdm bar on a terminal and about ten plain lines otherwise (log files stay readable).

    Raises:
        WorkerDiedError: a worker process died; the message names ``desc`` (the step) and the case.
    """
    if workers > 1 and len(items) > 1:
        yield from _progress(_pooled(func, items, min(workers, len(items)), desc), len(items), desc)
    else:
        yield from _progress(map(func, items), len(items), desc)


def _pooled(func: Callable[[Any], Any], items: list, workers: int, desc: str) -> Iterator[Any]:
    context = multiprocessing.get_context("spawn")
    states = context.Array("q", len(items), lock=False)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(states,))
    try:
        futures = [pool.submit(_run_tracked, func, index, item) for index, item in enumerate(items)]
        for future in futures:
            try:
                result = future.result()
            except BrokenProcessPool as exc:
                pool.shutdown(wait=True, cancel_futures=True)  # the survivors mark their cases first
                raise WorkerDiedError(_death_message(desc, items, list(states))) from exc
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _death_message(desc: str, items: list, states: list[int]) -> str:
    held = [(items[i], pid) for i, pid in enumerate(states) if pid > 0]
    cause = "killed by a signal, e.g. SIGKILL from the out-of-memory killer, or a crash in native code"
    if not held:
        return f"{desc}: a worker process died ({cause}) before it started a case"
    cases = "; ".join(f"case {item} (worker pid {pid})" for item, pid in held)
    return f"{desc}: a worker process died ({cause}) while it held {cases}"


def _init_worker(states) -> None:
    global _STATES
    _STATES = states
    signal.signal(signal.SIGTERM, _on_terminate)


def _on_terminate(signum, frame) -> None:
    if _CURRENT is not None:
        _STATES[_CURRENT] = INTERRUPTED
    os._exit(128 + signum)


def _run_tracked(func: Callable[[Any], Any], index: int, item: Any) -> Any:
    global _CURRENT
    _CURRENT = index
    _STATES[index] = os.getpid()
    try:
        return func(item)
    finally:
        _STATES[index] = DONE
        _CURRENT = None


def _progress(results: Iterable[Any], total: int, desc: str) -> Iterator[Any]:
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(results, total=total, desc=desc, file=sys.stderr)
        return
    every = max(1, total // 10)
    for index, result in enumerate(results, start=1):
        if index % every == 0 or index == total:
            print(f"{desc}: {index}/{total}", file=sys.stderr, flush=True)
        yield result
