"""Fixed Numba helpers that generated kernels call. Nothing here depends on a rule.

Changing this file changes every kernel: a hash of this package's source goes into each generated module
(emission.py, ``SOURCE_HASH``) so that Numba's disk cache (which does not notice changes in imported modules) is
never reused across versions.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir as llvm
from numba.core import cgutils, types
from numba.extending import intrinsic


@numba.njit(nogil=True, cache=True)
def civil_from_days(days: int) -> tuple[int, int, int]:  # pragma: no cover - runs compiled
    """(year, month, day) of a day number since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian)."""
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


@numba.njit(nogil=True, cache=True)
def age_years(days: int, now_year: int, now_month_day: int) -> int:  # pragma: no cover - runs compiled
    """Whole years from a birth day number to now (given as year and month * 100 + day)."""
    y, m, d = civil_from_days(days)
    return now_year - y - (1 if m * 100 + d > now_month_day else 0)


@numba.njit(nogil=True, cache=True)
def count_distinct_sorted(values: np.ndarray) -> int:  # pragma: no cover - runs compiled
    if values.size == 0:
        return 0
    values.sort()
    count = 1
    for k in range(1, values.size):
        if values[k] != values[k - 1]:
            count += 1
    return count


# Window bounds are searched from the end of a contact's slice, galloping (probes at 1, 2, 4, ... rows from the end,
# then a binary search between the last two): the windows rules use most are recent ones that hold a few of a
# contact's latest events, which this finds in a few probes within the slice's last cache line, where a binary
# search (and a first look at the slice's start) touches lines across the slice. A window without a start never
# calls lower_bound (passes.lower_start): galloping to the slice's start would cost more than a binary search.


@numba.njit(nogil=True, cache=True)
def lower_bound(ts: np.ndarray, s: int, e: int, value: int) -> int:  # pragma: no cover - runs compiled
    """The first row in [s, e) whose time is >= value (e if none), in a contact's sorted slice."""
    if s == e or ts[e - 1] < value:
        return e
    hi = e - 1  # value <= ts[hi]
    step = 1
    lo = hi - step
    while lo > s and ts[lo] >= value:
        hi = lo
        step <<= 1
        lo = hi - step
    if lo <= s:
        if ts[s] >= value:
            return s
        lo = s
    while hi - lo > 1:  # ts[lo] < value <= ts[hi]
        mid = (lo + hi) >> 1
        if ts[mid] < value:
            lo = mid
        else:
            hi = mid
    return hi


@numba.njit(nogil=True, cache=True)
def upper_bound(ts: np.ndarray, s: int, e: int, value: int) -> int:  # pragma: no cover - runs compiled
    """The first row in [s, e) whose time is > value (e if none), in a contact's sorted slice."""
    if s == e or ts[e - 1] <= value:
        return e
    hi = e - 1  # value < ts[hi]
    step = 1
    lo = hi - step
    while lo > s and ts[lo] > value:
        hi = lo
        step <<= 1
        lo = hi - step
    if lo <= s:
        if ts[s] > value:
            return s
        lo = s
    while hi - lo > 1:  # ts[lo] <= value < ts[hi]
        mid = (lo + hi) >> 1
        if ts[mid] <= value:
            lo = mid
        else:
            hi = mid
    return hi


@numba.njit(nogil=True, cache=True)
def at_least(ts: np.ndarray, s: int, e: int, lo: int, hi: int, k: int) -> bool:  # pragma: no cover - runs compiled
    """Whether at least ``k`` of a contact's sorted times ``ts[s:e]`` lie in [lo, hi]: the k-th latest time up to
    ``hi`` is not before ``lo``. One look near the slice's end instead of a search for the window's start."""
    if k <= 0:
        return True
    b = upper_bound(ts, s, e, hi)
    return b - s >= k and ts[b - k] >= lo


@intrinsic
def prefetch(typingctx, array, index):  # pragma: no cover - runs compiled
    """A hint to the CPU to start loading ``array[index]`` into the caches (LLVM's ``llvm.prefetch``, read, high
    locality). Never faults, whatever the index: the kernels prefetch for contacts they will reach a few
    iterations later, so that their memory latency overlaps the work on the current contact."""

    def codegen(context, builder, signature, args):
        data, position = args
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, data)
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, view, [position], wraparound=False, boundscheck=False
        )
        byte_pointer = builder.bitcast(pointer, llvm.IntType(8).as_pointer())
        i32 = llvm.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, llvm.FunctionType(llvm.VoidType(), [byte_pointer.type, i32, i32, i32]), "llvm.prefetch.p0"
        )
        builder.call(function, [byte_pointer, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen
