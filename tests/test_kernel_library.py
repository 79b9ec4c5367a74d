"""The fixed helpers of generated kernels (compiler/kernels/library.py), against numpy's definitions."""

import shutil
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import segmint.compiler.kernels
from segmint.compiler import ir
from segmint.compiler.kernels import StoreFacts, generate
from segmint.compiler.kernels.emission import SOURCE_HASH, source_hash
from segmint.compiler.kernels.library import at_least, lower_bound, upper_bound
from segmint.compiler.types import Type

times = st.lists(st.integers(-5, 40), max_size=40).map(lambda xs: np.array(sorted(xs), dtype=np.int64))


@given(times, st.integers(0, 40), st.integers(0, 40), st.integers(-8, 48))
def test_bounds_are_searchsorted_on_the_slice(ts, a, b, value):
    """``lower_bound``/``upper_bound`` of [s, e) are ``np.searchsorted`` left/right of ts[s:e], offset by s, for any
    slice of a sorted array (empty, all below, all above, runs of equal times)."""
    s, e = min(a, b, len(ts)), min(max(a, b), len(ts))
    assert lower_bound(ts, s, e, value) == s + np.searchsorted(ts[s:e], value, side="left")
    assert upper_bound(ts, s, e, value) == s + np.searchsorted(ts[s:e], value, side="right")


def test_bounds_at_the_int64_ends():
    ts = np.array([np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max], dtype=np.int64)
    assert lower_bound(ts, 0, 3, np.iinfo(np.int64).min) == 0
    assert upper_bound(ts, 0, 3, np.iinfo(np.int64).max) == 3
    assert lower_bound(ts, 0, 3, 1) == 2 and upper_bound(ts, 0, 3, 0) == 2


@given(times, st.integers(0, 40), st.integers(0, 40), st.integers(-8, 48), st.integers(-8, 48), st.integers(-2, 12))
def test_at_least_counts_the_window(ts, a, b, lo, hi, k):
    s, e = min(a, b, len(ts)), min(max(a, b), len(ts))
    inside = int(np.count_nonzero((ts[s:e] >= lo) & (ts[s:e] <= hi)))
    assert at_least(ts, s, e, lo, hi, k) == (inside >= k)


def test_kernels_carry_a_hash_of_the_library_and_generator_source(tmp_path):
    """Numba's disk cache does not notice a change in a module a kernel imports, so every kernel's source (hence its
    cache key) carries a hash of the library's and the generator's source: any edit to either gives new kernels."""
    kernel = generate((ir.Const(True, Type.BOOL),), StoreFacts(nullable=lambda column: False))
    assert kernel.source.splitlines()[0].endswith(SOURCE_HASH)
    package = Path(segmint.compiler.kernels.__file__).parent
    copy = tmp_path / "kernels"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_hash(copy) == SOURCE_HASH
    for name in ("library.py", "lowering.py"):
        edited = tmp_path / name
        shutil.copytree(package, edited, ignore=shutil.ignore_patterns("__pycache__"))
        (edited / name).write_text((package / name).read_text() + "\n# an edit\n")
        assert source_hash(edited) != SOURCE_HASH, name
