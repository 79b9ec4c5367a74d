"""Passes as input -> expected output pairs, both written as rules and compared as IR."""

import pytest

import segmint
from segmint.compiler import ir
from segmint.compiler.passes import fold_constants, normalise
from segmint.compiler.types import Type


def plan(rule, schema):
    return segmint.compile(rule, schema).rule.plan


@pytest.mark.parametrize(
    ("rule", "same_plan_as"),
    [
        ("ios_open", "opened device = ios"),  # definitions inlined
        ("churned", "bought and not bought within 90d"),
        # existence, however it is spelled, is Exists: evaluators answer it without counting
        ("count(opened device = ios) >= 1", "opened device = ios"),
        ("opened >= 1", "opened"),
        ("opened > 0", "opened"),
        ("opened != 0", "opened"),
        ("0 < count(opened)", "opened"),
        ("1 <= count(opened within 30d)", "opened within 30d"),
        ("opened = 0", "not opened"),
        ("opened < 1", "not opened"),
        ("opened <= 0", "not opened"),
        ("not opened > 0", "opened = 0"),
        ("((opened)) and clicked", "opened and clicked"),
        ("opened and (clicked and viewed)", "opened and clicked and viewed"),
        ("not not opened", "opened"),
        ("loyalty_points > 2 * 3 + 1", "loyalty_points > 7"),
        ("loyalty_points > 10 / 4", "loyalty_points > 2.5"),
        ("opened and true", "opened"),
        ("opened or 1 > 2", "opened"),
        ("opened and 1 > 2", "false"),
        # a date against a timestamp is its whole day (the whole_days pass)
        ("created_at > 2026-01-01", "created_at > 2026-01-01T23:59:59.999999Z"),
        ("created_at <= 2026-01-01", "created_at <= 2026-01-01T23:59:59.999999Z"),
        ("created_at < 2026-01-01", "created_at < 2026-01-01T00:00:00Z"),
        ("created_at >= 2026-01-01", "created_at >= 2026-01-01T00:00:00Z"),
        ("created_at = 2026-01-01", "created_at <= 2026-01-01T23:59:59.999999Z and created_at >= 2026-01-01T00:00:00Z"),
        ("created_at != 2026-01-01", "created_at < 2026-01-01T00:00:00Z or created_at > 2026-01-01T23:59:59.999999Z"),
        (
            "first(bought) between 2026-03-01 and 2026-03-31",
            "first(bought) >= 2026-03-01T00:00:00Z and first(bought) <= 2026-03-31T23:59:59.999999Z",
        ),
        (
            "created_at in (2026-01-01)",
            "created_at <= 2026-01-01T23:59:59.999999Z and created_at >= 2026-01-01T00:00:00Z",
        ),
        ("birth_date < 2026-01-01", "birth_date < 2026-01-01"),  # dates alone keep their plain meaning
        ("created_at < 2026-01-01T12:00:00Z", "created_at < 2026-01-01T12:00:00Z"),
    ],
)
def test_passes(schema, rule, same_plan_as):
    assert plan(rule, schema) == plan(same_plan_as, schema)


@pytest.mark.parametrize("rule", ["opened > 1", "opened >= 2", "opened = 1", "opened < 2", "opened > $n"])
def test_counts_that_are_not_existence_stay_counts(schema, rule):
    assert isinstance(plan(rule, schema).left, ir.Count)


def test_existence_is_an_exists_node_in_the_plan(schema):
    assert plan("opened > 0", schema) == ir.Exists(ir.EventSet("email_open"))
    assert plan("opened = 0", schema) == ir.Not(ir.Exists(ir.EventSet("email_open")))


def test_division_by_zero_is_left_for_run_time(schema):
    folded = plan("loyalty_points / (1 - 1) is null", schema)
    assert isinstance(folded.operand, ir.Arith) and folded.operand.right == ir.Const(0, Type.INT)


def test_bound_ir_keeps_the_rule_as_written(schema):
    seg = segmint.compile("ios_open and opened", schema)
    assert isinstance(seg.ir.items[0], ir.Ref) and isinstance(seg.ir.items[1], ir.Exists)
    assert seg.text == "ios_open and opened"


def test_passes_are_idempotent(schema):
    p = plan("churned and engaged and loyalty_points * 2 > 10", schema)
    assert fold_constants(normalise(p)) == p


def test_a_date_against_a_timestamp_keeps_the_date_in_the_rule(schema):
    seg = segmint.compile("created_at <= 2026-06-30 and first(bought) between 2026-03-01 and 2026-03-31", schema)
    assert seg.text == "created_at <= 2026-06-30 and first(bought) between 2026-03-01 and 2026-03-31"
    assert segmint.compile(seg.text, schema).ir == seg.ir


def test_timestamp_parameters_are_points_in_time_resolved_at_evaluation(schema):
    # $d may hold a date (its whole day) or a timestamp (that instant): the plan reads both ends of it
    p = plan("created_at <= $d", schema)
    assert p == ir.Compare(
        "<=", ir.Attr("created_at", Type.TIMESTAMP), ir.ToTimestamp(ir.Param("d", Type.TIMESTAMP), last=True)
    )


def test_a_date_in_a_window_is_in_when_any_part_of_its_day_is(schema):
    p = plan("birth_date within 1d", schema)
    window = ir.Within(ir.Const(ir.Duration(1, "d"), Type.DURATION))
    birth = ir.Attr("birth_date", Type.DATE)
    assert p == ir.And(
        (
            ir.Compare(">=", ir.ToTimestamp(birth, True), ir.WindowBound(window, False)),
            ir.Compare("<=", ir.ToTimestamp(birth, False), ir.WindowBound(window, True)),
        )
    )
