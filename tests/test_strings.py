"""String predicates over a dictionary: the Arrow-vectorised tests used for large dictionaries mean exactly what the
per-string Python definition (runtime/engines/strings.py ``string_test``) means, on any text."""

import datetime as dt
from unittest import mock

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.compiler import ir
from segmint.compiler.types import Type
from segmint.runtime.bindings import Bindings
from segmint.runtime.engines import strings
from segmint.runtime.store.columns import Strings

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
BINDINGS = Bindings(NOW, 0, {})
COLUMN = ir.Attr("email", Type.STRING)
text = st.text(st.characters(codec="utf-8"), max_size=6)  # short, so that random patterns often match


def const(value: str) -> ir.Const:
    return ir.Const(value, Type.STRING)


predicates = st.one_of(
    st.builds(lambda op, v: ir.Compare(op, COLUMN, const(v)), st.sampled_from(["=", "!=", ">", ">=", "<", "<="]), text),
    st.builds(lambda vs, neg: ir.InSet(COLUMN, tuple(map(const, vs)), neg), st.lists(text, max_size=3), st.booleans()),
    st.builds(lambda op, v: ir.TextMatch(op, COLUMN, const(v)), st.sampled_from(["contains", "startswith", "endswith"]),
              text),
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(text, max_size=30), predicate=predicates)
def test_arrow_tables_mean_what_the_python_test_means(values, predicate):
    dictionary = Strings(pa.array(values, pa.large_string()))
    expected = [bool(strings.string_test(predicate, BINDINGS)(s)) for s in values]
    with mock.patch.object(strings, "ARROW_MIN", 0):  # every dictionary goes the Arrow way, however small
        assert strings.string_table(predicate, BINDINGS, dictionary).tolist() == expected


@pytest.mark.parametrize(
    "dictionary",
    [("a@x", "b@y"), Strings(pa.array(["a@x", "b@y"], pa.large_string()))],
    ids=["tuple", "small Strings"],
)
def test_small_and_plain_dictionaries_use_the_python_test(dictionary):
    """Below ARROW_MIN entries, or without Arrow data, no Arrow compute runs (it costs more than it saves)."""
    predicate = ir.TextMatch("endswith", COLUMN, const("@x"))
    with mock.patch.object(strings, "pc", mock.Mock(side_effect=AssertionError("Arrow compute used"))) as pc:
        table = strings.string_table(predicate, BINDINGS, dictionary)
    assert not pc.mock_calls
    assert table.dtype == np.bool_ and table.tolist() == [True, False]


def test_large_dictionaries_use_arrow():
    dictionary = Strings(pa.array(["a@x", "b@y"], pa.large_string()))
    predicate = ir.TextMatch("endswith", COLUMN, const("@x"))
    with (
        mock.patch.object(strings, "ARROW_MIN", 2),
        mock.patch.object(strings, "string_test", side_effect=AssertionError("Python test used")),
    ):
        assert strings.string_table(predicate, BINDINGS, dictionary).tolist() == [True, False]
