"""Run a function over cases in worker processes, in order, with a progress display."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def map_cases(func: Callable[[Any], Any], items: list, workers: int = 1, desc: str = "cases") -> Iterator[Any]:
    """Yield ``func(item)`` for every item, in order, using ``workers`` processes (1 = in this process).

    Shows a tqdm bar on a terminal and about ten plain lines otherwise (log files stay readable).
    """
    if workers > 1 and len(items) > 1:
        with multiprocessing.get_context("spawn").Pool(min(workers, len(items))) as pool:
            yield from _progress(pool.imap(func, items), len(items), desc)
    else:
        yield from _progress(map(func, items), len(items), desc)


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
