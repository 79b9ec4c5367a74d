"""Thread ranges: work over [0, n) split across Numba's threads, and the read-only views kernels are given. Used by
the compiled and vector engines and by gathering ids; every kernel they run releases the GIL."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

MIN_PER_THREAD = 10_000  # below twice this, one thread: starting the others costs more than the work


def run_parallel(work: Callable[[int, int], None], n: int) -> None:
    """``work(start, stop)`` over [0, n) in as many ranges as Numba has threads; kernels release the GIL."""
    threads = numba.get_num_threads()
    if threads == 1 or n < MIN_PER_THREAD * 2:
        work(0, n)
        return
    bounds = [n * k // threads for k in range(threads + 1)]
    pool = _pool(threads)
    for future in [pool.submit(work, a, b) for a, b in itertools.pairwise(bounds)]:
        future.result()


_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    with _lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="segmint")
        return _pools[threads]


def read_only(array: np.ndarray) -> np.ndarray:
    """A read-only plain-ndarray view: Numba compiles a kernel once per combination of argument types, and
    writable (loaded) and read-only (opened, memory-mapped) stores would otherwise each get their own compile."""
    if not array.flags.writeable and type(array) is np.ndarray:
        return array
    view = array.view(np.ndarray)
    view.flags.writeable = False
    return view
