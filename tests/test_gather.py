"""runtime/engines/gather.py: a mask's rows and ids, computed on several threads, are numpy's."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.runtime.engines.gather import matching


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 60_000), st.sampled_from([0.0, 0.001, 0.3, 0.999, 1.0]), st.integers(0, 2**32 - 1))
def test_matching_is_flatnonzero(n, share, seed):
    """Sizes above 20,000 run on every thread (threads.MIN_PER_THREAD); empty ranges, a match at a range's last
    row and masks with no or every row set included."""
    rng = np.random.default_rng(seed)
    mask = rng.random(n) < share
    ids = rng.integers(-(2**62), 2**62, n)
    rows = np.flatnonzero(mask)
    assert np.array_equal(matching(mask), rows)
    assert np.array_equal(matching(mask, ids), ids[rows])


@pytest.mark.parametrize("n", [0, 1, 20_000, 20_001])
def test_matching_at_range_edges(n):
    mask = np.zeros(n, np.bool_)
    mask[[k for k in (0, n // 2 - 1, n // 2, n - 1) if 0 <= k < n]] = True
    assert np.array_equal(matching(mask), np.flatnonzero(mask))


def test_string_ids_are_taken_by_numpy():
    ids = np.array(["a", "b", "c"], dtype=object)
    assert matching(np.array([True, False, True]), ids).tolist() == ["a", "c"]
