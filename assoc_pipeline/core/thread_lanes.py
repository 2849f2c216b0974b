"""Independent pieces of work on a few threads, results in their order: the evaluation report
scores a dozen methods that share nothing, and one method at a time left a core idle.

Why threads, not processes: the scoring is numpy, SciPy and torch kernels, which release the
GIL, on fitted models that would cost more to pickle than to score. While the threads run, torch's
own pool is split between them (two 2-thread pools on 2 cores spin against each other).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from assoc_pipeline.core.errors import InputError

Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterator[Any]]


@contextmanager
def thread_lanes(workers: int) -> Iterator[Mapper]:
    """A ``map(fn, items)`` that runs ``workers`` calls at a time (1: in this thread, in order).

    Results come back in the order of ``items``; the first error is raised where its result is read.
    """
    if workers < 1:
        raise InputError(f"workers={workers}: must be at least 1")
    if workers == 1:
        yield map
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // workers))
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lane") as pool:
            yield pool.map
    finally:
        torch.set_num_threads(threads)
