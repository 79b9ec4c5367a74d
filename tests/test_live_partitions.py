"""Live refresh of a saved store of partitions (issue 12; runtime/live/partwise.py and layout.py): partition by
partition, never laid end to end, and exactly the changes of one store holding the same contacts.

A random model of contacts and events (tests/changes.py) goes through appends (new contacts, upserts, late and
repeated events), deletes, compactions and time steps; after each, a registry refreshes saved stores of 1, 3 and 8
partitions, and another registry refreshes the store rebuilt from the model (one unpartitioned ``Store``). At every
refresh both give the same sizes, causes, next-change bounds and alerts, and deliver the same entered and left
contacts per segment (derived, parametric, ranked, split into groups, excluding the global control group), through
``changes``, acknowledgements and ``on_enter``/``on_leave``; and a partitioned refresh delivers them in the
documented order: the store's rows partition by partition (those of ``SavedStore.snapshot()``), contacts no longer in
the store last, in their old order.
"""

import datetime as dt
import random
from collections import defaultdict

import numpy as np
from changes import NOW, Model, random_model, step, take_step
from data import run, run_json
from fuzzgen import SCHEMA
from pyroaring import BitMap

import segmint
from segmint.runtime.live.layout import Carry, Layout
from segmint.runtime.live.membership import Epoch, digest_of

RULES = {
    "apple": "bought brand = Apple",
    "busy": "count(bought) >= 2 or city = Kyiv",
    "quiet": "not opened within 30d",
    "recent": "opened within 7d or bought within 10d",
    "rich": "percentile(sum(bought.amount)) >= 50",
    "best": "quintile(count(bought)) = 5 or decile(loyalty_points) <= 3",
    "fans": "bought category = $category within $days",
    "vinyl": "apple and not quiet",  # derived
}
PARAMS = {"fans": {"category": "Vinyl", "days": "120d"}}


def register(registry: segmint.Registry) -> dict[tuple, list]:
    """The segments, a split, the global control group and an alert; returns what the callbacks receive."""
    registry.global_control(10, salt="partitions")
    for name, rule in RULES.items():
        registry.add(name, rule, params=PARAMS.get(name), exclude_control=name == "recent")
    registry.split("busy", {"A": 40, "B": 40, "control": 20}, salt="busy-test")
    registry.alert("quiet", change=0.05)
    called: dict[tuple, list] = defaultdict(list)
    for name in [*RULES, "busy.A", "busy.B", "busy.control"]:
        registry.on_enter(name, lambda c: called[(c.seq, c.segment, c.change)].append(c.id))
        registry.on_leave(name, lambda c: called[(c.seq, c.segment, c.change)].append(c.id))
    return called


def blocks(registry: segmint.Registry, consumer: str) -> list[tuple[tuple, list]]:
    """The changes not acknowledged by ``consumer``, as consecutive blocks of (seq, segment, change, cause, now)."""
    found: list[tuple[tuple, list]] = []
    for c in registry.changes(consumer):
        key = (c.seq, c.segment, c.change, c.cause, c.now)
        if not found or found[-1][0] != key:
            found.append((key, []))
        found[-1][1].append(c.id)
    return found


def reported(report) -> list[tuple]:
    return [(s.name, s.size, s.entered, s.left, s.cause, s.error, s.alerts, s.next_change) for s in report.segments]


def documented_order(ids: list, new_ids: np.ndarray, old_ids: np.ndarray, change: str) -> bool:
    """Rows of the store partition by partition; for ``left``, contacts no longer in the store last, in old order."""
    new_at = {contact: row for row, contact in enumerate(new_ids.tolist())}
    old_at = {contact: row for row, contact in enumerate(old_ids.tolist())}
    here = [new_at[i] for i in ids if i in new_at]
    gone = [old_at[i] for i in ids if i not in new_at]
    assert change == "left" or not gone
    return here == sorted(here) and gone == sorted(gone) and ids[:len(here)] == [i for i in ids if i in new_at]


def test_partitioned_refreshes_deliver_the_changes_of_one_store(tmp_path):
    model = random_model(SCHEMA, 23, 90, 240)
    counts = (1, 3, 8)
    saved = {k: segmint.SavedStore.create(tmp_path / f"p{k}", model.store(), partitions=k) for k in counts}
    whole = segmint.Registry(tmp_path / "whole.db", SCHEMA)
    expected_calls = register(whole)
    registries = {k: segmint.Registry(tmp_path / f"p{k}.db", SCHEMA) for k in counts}
    calls = {k: register(r) for k, r in registries.items()}
    rng = random.Random(5)
    now = NOW
    before = {k: saved[k].snapshot().ids for k in counts}
    kinds = set()
    gone = delivered = 0
    for turn in range(16):
        if turn:
            change = step(turn, model)
            kinds.add(change[0])
            for k in counts:
                take_step(change, Model(SCHEMA), saved[k])  # the stores only (a throwaway model)
            take_step(change, model)
        now += dt.timedelta(hours=rng.choice([0, 6, 30, 24 * 9]))
        expected = whole.refresh(model.store(), now=now, engine="vector")
        wanted = blocks(whole, "mailer")
        assert wanted or turn == 0 or reported(expected)  # something to compare
        for k in counts:
            report = registries[k].refresh(saved[k], now=now, engine="vector")
            assert report.seq == expected.seq
            assert reported(report) == reported(expected), (turn, k)
            got = blocks(registries[k], "mailer")
            assert [key for key, _ in got] == [key for key, _ in wanted], (turn, k)
            after = saved[k].snapshot().ids
            for (key, ids), (_, want) in zip(got, wanted, strict=True):
                assert sorted(ids) == sorted(want) and len(set(ids)) == len(ids), (turn, k, key)
                if key[0] == report.seq:  # older blocks (not acknowledged) are of older stores
                    assert documented_order(ids, after, before[k], key[2]), (turn, k, key)
                    gone += sum(i not in set(after.tolist()) for i in ids)
                    delivered += len(ids)
                assert calls[k][key[:3]] == ids  # callbacks: the same contacts, in the same order
            for name in [*RULES, "busy.A", "busy.B", "busy.control"]:
                assert sorted(registries[k].members(name)) == sorted(whole.members(name)), (turn, k, name)
            if turn % 3 == 0:  # acknowledged changes are not delivered again; the others are
                registries[k].ack("mailer", report.seq)
            before[k] = after
        if turn % 3 == 0:
            whole.ack("mailer", expected.seq)
        assert {key[:3] for key in expected_calls} == {key[:3] for k in counts for key in calls[k]}
    assert kinds == {"append", "delete", "compact"} and gone > 0 and delivered > 300 * len(counts)
    for k in counts:  # the registry kept each partition's ids once per version of the partition, not per refresh
        epochs = registries[k]._db.execute("SELECT count(*) FROM epochs").fetchone()[0]
        assert epochs <= 16 * (k + 1)


def test_a_refresh_of_partitions_equals_the_reference_on_the_whole_store(tmp_path):
    """Members are exactly the reference engine's answer on the store rebuilt from all the data, with compiled
    kernels over 3 partitions (ranks among all contacts)."""
    model = random_model(SCHEMA, 3, 60, 150)
    saved = segmint.SavedStore.create(tmp_path / "s", model.store(), partitions=3)
    with segmint.Registry(":memory:", SCHEMA) as registry:
        for name, rule in RULES.items():
            registry.add(name, rule, params=PARAMS.get(name))
        report = registry.refresh(saved, now=NOW, engine="auto", wait_for_kernels=True)
        assert not any(s.error for s in report.segments)
        for name, rule in RULES.items():
            text = rule if name != "vinyl" else f"({RULES['apple']}) and not ({RULES['quiet']})"
            want = segmint.compile(text, SCHEMA).evaluate(model.store(), now=NOW, params=PARAMS.get(name),
                                                          engine="reference")
            assert sorted(registry.members(name)) == sorted(want.ids().tolist()), name


def test_a_segment_that_fails_on_the_partitions_is_reported_and_the_others_refresh(tmp_path):
    model = random_model(SCHEMA, 3, 30, 50)
    saved = segmint.SavedStore.create(tmp_path / "s", model.store(), partitions=3)
    with segmint.Registry(":memory:", SCHEMA) as registry:
        registry.add("apple", RULES["apple"])
        registry.add("fans", RULES["fans"], params={"category": "Vinyl", "days": "5 apples"})
        report = registry.refresh(saved, now=NOW, engine="vector")
        by_name = {s.name: s for s in report.segments}
        assert by_name["fans"].error and "days" in by_name["fans"].error
        assert by_name["apple"].error is None and by_name["apple"].size == len(registry.members("apple")) > 0


# -- the layout: how memberships move between versions of a store of partitions -------------------------------
def layout(*parts: list) -> Epoch | Layout:
    return Layout.of([np.array(p, object if p and isinstance(p[0], str) else np.int64) for p in parts])


def carried(new, old, rows: list) -> tuple[list, list]:
    found, gone = Carry(new, old)(BitMap(rows))
    return new.ids_of(found), gone


def test_appends_move_no_row_inside_a_partition_and_shift_later_partitions():
    old, new = layout([1, 2, 3], [10, 11]), layout([1, 2, 3, 4], [10, 11, 12])
    carry = Carry(new, old)
    assert carry.kept == [True, True] and not carry.same  # partition 1 starts a row later
    assert carried(new, old, [0, 2, 3, 4]) == ([1, 3, 10, 11], [])
    assert Carry(layout([1, 2, 3], [10, 11, 12]), old).same  # the last partition grew: no row moves
    assert Carry(layout([1, 2, 3]), layout([1, 2])).same  # one partition: a plain epoch, as before partitions


def test_a_delete_translates_its_partition_by_id_and_reports_who_is_gone():
    old, new = layout([1, 2, 3], [10, 11, 12]), layout([1, 2, 3], [10, 12])
    carry = Carry(new, old)
    assert carry.kept == [True, False]
    assert carried(new, old, [0, 3, 4, 5]) == ([1, 10, 12], [11])


def test_a_store_rebuilt_with_another_partition_count_keeps_members_by_id():
    old = layout([5, 1, 7], [2, 9])
    for new in (layout([1, 2, 5, 7, 9]), layout([9, 1], [7], [2, 5, 4])):
        found, gone = carried(new, old, [0, 1, 3, 4])
        assert sorted(found) == [1, 2, 5, 9] and gone == []
    assert carried(layout([1, 2]), old, [0, 2, 3]) == ([2], [5, 7])


def test_a_layout_names_its_rows_partition_by_partition():
    found = layout([5, 1], [], [7, 3])
    assert isinstance(found, Layout) and found.ids_of(BitMap([0, 1, 3])) == [5, 1, 3]
    assert found.digest != layout([5, 1, 7, 3]).digest == digest_of(np.array([5, 1, 7, 3]))
    assert layout(["a", "b"], ["c"]).ids_of(BitMap([2, 0])) == ["a", "c"]


# -- the command line ------------------------------------------------------------------------------------------
def test_segments_refresh_takes_a_saved_store_of_partitions(tmp_path, capsys):
    """``segmint segments refresh --data STORE_DIR`` on 3 partitions reports and delivers what it does on the same
    contacts in one partition."""
    model = random_model(SCHEMA, 8, 50, 120)
    outputs = []
    for k in (1, 3):
        segmint.SavedStore.create(tmp_path / f"p{k}", model.store(), partitions=k)
        common = ["--registry", tmp_path / f"p{k}.db", "--data", tmp_path / f"p{k}"]
        for name in ("apple", "quiet", "rich"):
            assert run(capsys, "segments", "add", name, RULES[name], *common)[0] == 0
        code, report = run_json(capsys, "segments", "refresh", "--now", "2026-11-01T00:00:00Z", "--engine",
                                "vector", *common)
        assert code == 0 and report["seq"] == 1
        code, out, _ = run(capsys, "segments", "changes", "--consumer", "mailer", *common)
        assert code == 0
        outputs.append(([(s["name"], s["size"], s["entered"], s["cause"]) for s in report["segments"]],
                        sorted(out.splitlines())))
    assert outputs[0] == outputs[1] and len(outputs[0][1]) > 20
