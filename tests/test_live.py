"""Live segments: the registry's definitions, refreshes with who entered and left, delivery and acknowledgement.

A tiny store of five contacts; times relative to NOW. Every refresh's entered/left must equal the difference of two
reference evaluations, whatever moved the contacts: new data, time passing, an edit, a rebuilt store.
"""

import dataclasses
import datetime as dt
import threading

import numpy as np
import pytest
from data import LIVE_CONTACTS, LIVE_OPENS, NOW, ago, live_store

import segmint
from segmint.runtime.live.splits import buckets

DAY = dt.timedelta(days=1)


@pytest.fixture
def store(schema):
    return live_store(schema=schema)


@pytest.fixture
def registry(schema):
    with segmint.Registry(":memory:", schema) as registry:
        yield registry


def members(segment_rule: str, schema, store, now) -> set:
    result = segmint.compile(segment_rule, schema).evaluate(store, now=now, engine="reference")
    return set(result.ids().tolist())


def changes_of(registry, consumer="test", since=None) -> set:
    return {(c.seq, c.segment, c.id, c.change, c.cause) for c in registry.changes(consumer, since=since)}


# -- definitions ---------------------------------------------------------------------------------------------------


def test_add_get_list_update_remove(registry):
    added = registry.add("recent", "opened within 7d", description="opened this week")
    assert (added.name, added.rule, added.version, added.description) == ("recent", "opened within 7d", 1,
                                                                         "opened this week")
    registry.add("kyiv", "city = Kyiv")
    assert [d.name for d in registry.list()] == ["kyiv", "recent"]
    edited = registry.update("recent", rule="opened within 3d")
    assert (edited.rule, edited.version, edited.description) == ("opened within 3d", 2, "opened this week")
    registry.remove("kyiv")
    assert [d.name for d in registry.list()] == ["recent"]
    assert [v["rule"] for v in registry.versions("kyiv")] == ["city = Kyiv", None]  # the removal is kept
    assert [v["rule"] for v in registry.versions("recent")] == ["opened within 7d", "opened within 3d"]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda r: r.add("x", "opned within 7d"), segmint.RuleError, "did you mean 'opened'"),
        (lambda r: r.add("recent", "city = Kyiv"), segmint.RegistryError, "already exists"),
        (lambda r: r.add("a b", "city = Kyiv"), segmint.RegistryError, "segment name"),
        (lambda r: r.get("nope"), segmint.RegistryError, "no segment named 'nope'"),
        (lambda r: r.update("nope", rule="city = Kyiv"), segmint.RegistryError, "no segment named"),
        (lambda r: r.remove("nope"), segmint.RegistryError, "no segment named"),
        (lambda r: r.add("p", "viewed category = $c"), segmint.RegistryError, r"takes \$c; given none"),
        (lambda r: r.add("p", "city = Kyiv", params={"c": 1}), segmint.RegistryError, r"given \$c"),
    ],
)
def test_bad_definitions_are_refused(registry, call, error, match):
    registry.add("recent", "opened within 7d")
    with pytest.raises(error, match=match):
        call(registry)


def test_a_file_that_is_not_a_registry_is_refused(schema, tmp_path):
    path = tmp_path / "not.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(segmint.RegistryError, match="cannot open the registry"):
        segmint.Registry(path, schema)


# -- refresh -------------------------------------------------------------------------------------------------------


def test_first_refresh_enters_every_member_as_new(registry, schema, store):
    registry.add("recent", "opened within 7d")
    report = registry.refresh(store, now=NOW)
    assert [(s.name, s.size, s.entered, s.left, s.cause) for s in report.segments] == [("recent", 2, 2, 0, "new")]
    assert set(registry.members("recent")) == {10, 20} == members("opened within 7d", schema, store, NOW)
    assert changes_of(registry) == {(report.seq, "recent", 10, "entered", "new"),
                                    (report.seq, "recent", 20, "entered", "new")}
    assert set(report.seconds) == {"kernels", "evaluate", "next", "diff", "commit", "callbacks"}


def test_time_alone_moves_contacts(registry, schema, store):
    registry.add("recent", "opened within 7d")
    first = registry.refresh(store, now=NOW)
    later = NOW + 2 * DAY  # 20's open (6 days ago) leaves the window; nobody new
    second = registry.refresh(store, now=later)
    assert set(registry.members("recent")) == members("opened within 7d", schema, store, later) == {10}
    assert changes_of(registry, since=first.seq) == {(second.seq, "recent", 20, "left", "time")}


def test_a_refresh_with_nothing_new_changes_nothing(registry, store):
    registry.add("recent", "opened within 7d")
    first = registry.refresh(store, now=NOW)
    again = registry.refresh(store, now=NOW)
    assert [(s.entered, s.left, s.size) for s in again.segments] == [(0, 0, 2)]
    assert changes_of(registry, since=first.seq) == set()


def test_new_data_moves_contacts_and_membership_follows_ids(registry, schema, store):
    """The rebuilt store has a new contact before the others (every row moves) and has lost contact 20."""
    registry.add("recent", "opened within 7d")
    first = registry.refresh(store, now=NOW)
    contacts = [dict(id=5, city="Kyiv"), *[c for c in LIVE_CONTACTS if c["id"] != 20]]
    opens = [*[o for o in LIVE_OPENS if o["id"] != 20], dict(id=5, ts=ago(2), device="ios"), dict(id=30, ts=ago(1),
                                                                                            device="ios")]
    rebuilt = live_store(contacts, opens, schema)
    second = registry.refresh(rebuilt, now=NOW)
    assert set(registry.members("recent")) == members("opened within 7d", schema, rebuilt, NOW) == {5, 10, 30}
    assert changes_of(registry, since=first.seq) == {
        (second.seq, "recent", 5, "entered", "data"),
        (second.seq, "recent", 30, "entered", "data"),
        (second.seq, "recent", 20, "left", "data"),  # gone from the store
    }


def test_an_edit_is_diffed_against_the_old_membership(registry, store):
    registry.add("recent", "opened within 7d")
    first = registry.refresh(store, now=NOW)
    registry.update("recent", rule="opened within 30d")
    second = registry.refresh(store, now=NOW)
    assert changes_of(registry, since=first.seq) == {(second.seq, "recent", 30, "entered", "edit"),
                                                     (second.seq, "recent", 40, "entered", "edit")}
    assert registry.history("recent")[-1].version == 2


def test_a_contact_that_leaves_and_comes_back_enters_again(registry, schema, store):
    registry.add("recent", "opened within 7d")
    registry.refresh(store, now=NOW)
    registry.refresh(store, now=NOW + 2 * DAY)  # 20 leaves
    third = registry.refresh(live_store(opens=[*LIVE_OPENS, dict(id=20, ts=NOW + DAY, device="ios")], schema=schema),
                             now=NOW + 2 * DAY)
    assert (third.seq, "recent", 20, "entered", "data") in changes_of(registry)


def test_parametric_segments_with_different_values_refresh_together(registry, schema, store):
    registry.add("recent_ios", "opened device = $d within $w", params={"d": "ios", "w": "7d"})
    registry.add("recent_android", "opened device = $d within $w", params={"d": "android", "w": "30d"})
    registry.add("kyiv", "city = Kyiv")
    report = registry.refresh(store, now=NOW)
    assert {s.name: s.size for s in report.segments} == {"kyiv": 2, "recent_android": 1, "recent_ios": 2}
    assert set(registry.members("recent_android")) == {30}


def test_a_segment_that_does_not_fit_the_store_is_reported_and_the_others_refresh(registry, schema, store):
    registry.add("recent", "opened within 7d")
    registry.add("kyiv", "city = Kyiv")
    store = dataclasses.replace(store, attributes={k: v for k, v in store.attributes.items() if k != "city"})
    report = registry.refresh(store, now=NOW)
    by_name = {s.name: s for s in report.segments}
    assert "no attribute 'city'" in by_name["kyiv"].error and by_name["recent"].size == 2
    assert "city" in registry.get("kyiv").last_error
    assert registry.get("recent").last_error is None and registry.get("recent").refreshed_seq == report.seq


def test_refresh_only_the_named_segments(registry, store):
    registry.add("recent", "opened within 7d")
    registry.add("kyiv", "city = Kyiv")
    report = registry.refresh(store, now=NOW, names=["kyiv"])
    assert [s.name for s in report.segments] == ["kyiv"] and registry.members("recent") == []


# -- delivery ------------------------------------------------------------------------------------------------------


def test_unacknowledged_changes_are_delivered_again(registry, store):
    registry.add("recent", "opened within 7d")
    first = registry.refresh(store, now=NOW)
    assert len(list(registry.changes("mailer"))) == 2
    assert len(list(registry.changes("mailer"))) == 2  # not acknowledged: again
    registry.ack("mailer", first.seq)
    assert list(registry.changes("mailer")) == []
    second = registry.refresh(store, now=NOW + 2 * DAY)
    assert [(c.seq, c.id, c.change) for c in registry.changes("mailer")] == [(second.seq, 20, "left")]
    registry.ack("mailer", first.seq)  # acknowledgements never go back
    assert registry.acked("mailer") == first.seq
    assert len(list(registry.changes("other"))) == 3  # each consumer has its own position
    assert len(list(registry.changes("other", limit=1))) == 1


def test_callbacks_run_after_the_commit_and_their_failures_are_reported(registry, store):
    registry.add("recent", "opened within 7d")
    seen = []
    registry.on_enter("recent", lambda change: seen.append((change.id, change.change)))
    registry.on_enter("recent", lambda change: 1 / 0)
    report = registry.refresh(store, now=NOW)
    assert sorted(seen) == [(10, "entered"), (20, "entered")]
    assert len(report.callback_errors) == 2 and "ZeroDivisionError" in report.callback_errors[0]
    assert set(registry.members("recent")) == {10, 20}  # committed whatever the callbacks did


def test_the_registry_survives_reopening(schema, store, tmp_path):
    path = tmp_path / "segments.db"
    with segmint.Registry(path, schema) as registry:
        registry.add("recent", "opened within 7d")
        seq = registry.refresh(store, now=NOW).seq
    with segmint.Registry(path, schema) as registry:
        assert set(registry.members("recent")) == {10, 20}
        assert [p.size for p in registry.history("recent")] == [2]
        assert {c.seq for c in registry.changes("x")} == {seq}


def test_string_ids(schema):
    contacts = [dict(c, id=f"c{c['id']}") for c in LIVE_CONTACTS]
    opens = [dict(o, id=f"c{o['id']}") for o in LIVE_OPENS]
    store = live_store(contacts, opens, schema)
    with segmint.Registry(":memory:", schema) as registry:
        registry.add("recent", "opened within 7d")
        registry.refresh(store, now=NOW)
        registry.refresh(store, now=NOW + 2 * DAY)
        assert registry.members("recent") == ["c10"]
        assert sorted((c.id, c.change) for c in registry.changes("x")) == [
            ("c10", "entered"), ("c20", "entered"), ("c20", "left")]


def test_refresh_sequence_equals_reference_differences(registry, schema, store):
    """Over a month of daily refreshes, entered/left each day are exactly the difference of two evaluations."""
    rules = {"recent": "opened within 7d", "ios": "opened device = ios within 10d", "quiet": "not opened within 5d"}
    for name, rule in rules.items():
        registry.add(name, rule)
    previous = {name: set() for name in rules}
    for day in range(30):
        now = NOW + day * DAY - 10 * DAY
        report = registry.refresh(store, now=now)
        for name, rule in rules.items():
            current = members(rule, schema, store, now)
            got = {(c.id, c.change) for c in registry.changes("x", since=report.seq - 1) if c.segment == name}
            assert got == {(i, "entered") for i in current - previous[name]} | {
                (i, "left") for i in previous[name] - current}, (name, day)
            previous[name] = current
    assert np.diff([p.seq for p in registry.history("recent")]).tolist() == [1] * 29


# -- derived segments ----------------------------------------------------------------------------------------------


def test_a_rule_may_name_other_segments_and_sees_their_fresh_membership(registry, schema, store):
    registry.add("recent", "opened within 7d")
    registry.add("kyiv", "city = Kyiv")
    registry.add("recent_outside_kyiv", "recent and not kyiv")
    report = registry.refresh(store, now=NOW, names=["recent_outside_kyiv"])  # its inputs are not refreshed
    assert [(s.name, s.size) for s in report.segments] == [("recent_outside_kyiv", 1)]
    assert registry.members("recent_outside_kyiv") == [20]
    registry.update("kyiv", rule="city in (Kyiv, Lviv)")  # an input changes: the next refresh sees it
    registry.refresh(store, now=NOW, names=["recent_outside_kyiv"])
    assert registry.members("recent_outside_kyiv") == []


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda r: r.update("recent", rule="opened within 7d and recent_kyiv"), "cycle"),
        (lambda r: r.remove("kyiv"), "used by recent_kyiv"),
        (lambda r: r.add("city", "opened"), "schema's names"),  # an attribute's name
        (lambda r: r.add("uses_param", "recent and by_device"), "segments with parameters"),
        (lambda r: r.update("kyiv", rule="city = $c", params={"c": "Kyiv"}), "recent_kyiv use it"),
    ],
)
def test_derived_segments_refuse_cycles_removals_and_parameters(registry, call, match):
    registry.add("recent", "opened within 7d")
    registry.add("kyiv", "city = Kyiv")
    registry.add("recent_kyiv", "recent and kyiv")
    registry.add("by_device", "opened device = $d", params={"d": "ios"})
    with pytest.raises(segmint.SegmintError, match=match):
        call(registry)
    assert [d.version for d in registry.list()] == [1, 1, 1, 1]  # nothing changed


# -- splits and alerts ---------------------------------------------------------------------------------------------


def test_buckets_are_a_pure_function_of_id_and_salt():
    ids = np.arange(-5, 100_000, dtype=np.int64)
    once = buckets(ids, "spring")
    assert np.array_equal(once, buckets(ids, "spring"))
    assert np.array_equal(once[1000:2000], buckets(ids[1000:2000], "spring"))  # not a function of position
    assert not np.array_equal(once, buckets(ids, "autumn"))
    assert once.min() >= 0 and once.max() < 10_000
    counts = np.bincount(once // 1000, minlength=10)  # ten equal ranges: ~10,000 each
    assert np.all(np.abs(counts - len(ids) / 10) < 5 * np.sqrt(len(ids) / 10))
    text = np.array([f"c{i}" for i in range(1000)], dtype=object)
    assert np.array_equal(buckets(text, "s"), buckets(text[::-1], "s")[::-1])


def test_the_bucket_function_is_pinned():
    """Changing the bucket function would move every contact to another group: pinned to known values."""
    assert buckets(np.array([0, 7, -1, 2**62], dtype=np.int64), "salt").tolist() == PINNED
    assert buckets(np.array(["alice@example.com"], dtype=object), "spring").tolist() == PINNED_TEXT


PINNED = [4942, 5982, 2038, 8764]
PINNED_TEXT = [3364]


@pytest.mark.parametrize(
    ("shares", "match"),
    [({"A": 50, "B": 40}, "add up to 90%"), ({"A": 50.005, "B": 49.995}, "two decimals"),
     ({"A": 0, "B": 100}, "above 0"), ({"a b": 100}, "group name"), ({}, "at least one group")],
)
def test_bad_splits_are_refused(registry, shares, match):
    registry.add("recent", "opened within 7d")
    with pytest.raises(segmint.RegistryError, match=match):
        registry.split("recent", shares)


def test_split_groups_partition_the_segment_and_stay_stable(schema):
    contacts = [dict(id=i, city="Kyiv" if i % 3 else "Lviv") for i in range(1, 3001)]
    store = live_store(contacts, [], schema)
    with segmint.Registry(":memory:", schema) as registry:
        registry.add("kyiv", "city = Kyiv")
        registry.split("kyiv", {"A": 45, "B": 45, "control": 10}, salt="test-1")
        first = registry.refresh(store, now=NOW)
        sizes = {s.name: s.size for s in first.segments}
        assert sizes["kyiv"] == 2000 and sizes["kyiv.A"] + sizes["kyiv.B"] + sizes["kyiv.control"] == 2000
        for group, share in (("A", 0.45), ("B", 0.45), ("control", 0.10)):
            expected = 2000 * share
            assert abs(sizes[f"kyiv.{group}"] - expected) < 4 * np.sqrt(expected * (1 - share)), group
        groups = {g: set(registry.members(f"kyiv.{g}")) for g in ("A", "B", "control")}
        assert set().union(*groups.values()) == set(registry.members("kyiv"))
        registry.update("kyiv", rule="city in (Kyiv, Lviv)")  # the segment grows: nobody changes group
        second = registry.refresh(store, now=NOW)
        for g, before in groups.items():
            assert before <= set(registry.members(f"kyiv.{g}"))
        assert {s.cause for s in second.segments if s.name.startswith("kyiv.")} == {"edit"}
        delivered = {c.segment for c in registry.changes("x")}
        assert delivered == {"kyiv", "kyiv.A", "kyiv.B", "kyiv.control"}


def test_alerts_fire_on_thresholds_and_sharp_changes(registry, schema, store):
    registry.add("recent", "opened within 7d")
    registry.alert("recent", below=2, change=0.4)
    first = registry.refresh(store, now=NOW)
    assert first.segments[0].alerts == ()  # 2 members: not below 2; no previous size
    second = registry.refresh(store, now=NOW + 2 * DAY)  # 2 -> 1
    assert second.segments[0].alerts == ("size 1 is below 2", "size changed from 2 to 1 (-50%)")
    assert registry.history("recent")[-1].alerts == second.segments[0].alerts
    assert "ALERT size 1 is below 2" in str(second)
    registry.alert("recent")  # cleared
    assert registry.refresh(store, now=NOW + 2 * DAY).segments[0].alerts == ()
    with pytest.raises(segmint.RegistryError, match="no segment named 'nope'"):
        registry.alert("nope", below=1)


def test_concurrent_refreshers_never_corrupt(schema, store, tmp_path):
    """Two registries on one file refresh at once from two threads: refreshes serialise, every change chains."""
    path = tmp_path / "shared.db"
    with segmint.Registry(path, schema) as registry:
        registry.add("recent", "opened within 7d")
        registry.add("ios", "opened device = ios within 10d")

    def refresher(offset: int) -> None:
        with segmint.Registry(path, schema) as mine:
            for day in range(8):
                mine.refresh(store, now=NOW + (day * 2 + offset) * DAY / 2, engine="reference")

    threads = [threading.Thread(target=refresher, args=(offset,)) for offset in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with segmint.Registry(path, schema) as registry:
        assert len(registry.history("recent")) == 16
        for name in ("recent", "ios"):
            replay: set = set()
            for change in registry.changes("x", since=0):
                if change.segment == name:
                    assert (change.id in replay) == (change.change == "left")
                    (replay.add if change.change == "entered" else replay.discard)(change.id)
            assert replay == set(registry.members(name))


def test_definitions_made_by_another_registry_on_the_file_are_seen(schema, store, tmp_path):
    """Two processes (here two Registry objects) on one file: a segment one adds can be named by the other's rules
    at once, and a refresh compiles each rule once while the definitions stay as they are."""
    path = tmp_path / "shared.db"
    with segmint.Registry(path, schema) as mine, segmint.Registry(path, schema) as theirs:
        mine.add("recent", "opened within 7d")
        mine.refresh(store, now=NOW)
        theirs.add("kyiv", "city = Kyiv")
        mine.add("recent_kyiv", "recent and kyiv")
        assert mine.members("recent_kyiv") == []
        report = mine.refresh(store, now=NOW)
        assert {s.name: s.size for s in report.segments} == {"kyiv": 2, "recent": 2, "recent_kyiv": 1}
        assert mine.segment_of("recent and kyiv", {}) is mine.segment_of("recent and kyiv", {})


def test_checking_an_edit_compiles_only_the_segments_it_uses(registry, schema):
    """Every definition of a schema is parsed and bound when a rule is compiled against it: checking the n-th add
    against every segment made registering n segments quadratic (1,000 segments: about an hour)."""
    registry.add("recent", "opened within 7d")
    registry.add("kyiv", "city = Kyiv")
    registry.add("recent_kyiv", "recent and kyiv")
    for i in range(20):
        registry.add(f"other_{i}", f"opened > {i} times")
    checked = registry.rules_schema({"new": "recent_kyiv and not engaged"}).definitions
    assert set(checked) - set(schema.definitions) == {"new", "recent_kyiv", "recent", "kyiv"}
    assert set(registry.rules_schema().definitions) >= {f"other_{i}" for i in range(20)}  # a refresh's: all
    with pytest.raises(segmint.RuleError, match="cycle"):
        registry.update("recent", rule="recent_kyiv or opened within 1d")


def test_the_store_digest_sees_every_change_of_data_and_only_those(schema):
    """A refresh's cause is ``time`` only when the store's contents are those of the previous refresh's."""
    from segmint.runtime.live.partwise import store_digest

    contacts = [dict(id=1, city="Kyiv", loyalty_points=5), dict(id=2, city="Lviv", loyalty_points=None)]
    opens = [dict(id=1, ts=ago(1), device="ios"), dict(id=2, ts=ago(3), device="android")]

    def digest(contacts=contacts, opens=opens):
        return store_digest(live_store(contacts, opens, schema))

    same = digest()
    assert digest() == same  # another store object with the same contents
    changed = [
        digest(contacts=[contacts[0], {**contacts[1], "city": "Kyiv"}]),  # an attribute value
        digest(contacts=[contacts[0], {**contacts[1], "loyalty_points": 0}]),  # null -> 0
        digest(contacts=[contacts[0], {**contacts[1], "id": 3}], opens=[opens[0], {**opens[1], "id": 3}]),  # an id
        digest(opens=[opens[0], {**opens[1], "device": "ios"}]),  # an event property
        digest(opens=[opens[0], {**opens[1], "ts": ago(2)}]),  # an event time
        digest(opens=[opens[0], {**opens[1], "id": 1}]),  # an event moves to another contact
        digest(opens=opens[:1]),  # an event less
    ]
    assert len({same, *changed}) == len(changed) + 1


def test_segments_that_cannot_have_changed_are_not_evaluated(registry, schema, store, monkeypatch):
    """Same store contents, no definition changed, and ``now`` before the next change bound of the previous
    refresh: the membership is kept without evaluating (a refresh with nothing new costs next to nothing)."""
    from segmint.runtime.live import partwise

    evaluated = []
    batch = partwise._batch

    def spy(found, members, source, definitions, *args):
        evaluated.append(sorted(found.segments[d.name].text for d in definitions))
        return batch(found, members, source, definitions, *args)

    monkeypatch.setattr(partwise, "_batch", spy)
    registry.add("recent", "opened within 7d")  # 20 (opened 6 days ago) leaves at NOW + 1 day
    registry.add("kyiv", "city = Kyiv")  # time alone never changes it
    registry.split("kyiv", {"A": 50, "B": 50})
    first = registry.refresh(store, now=NOW)
    assert evaluated == [["city = Kyiv", "opened within 7d"]]

    def refresh(store, now):
        evaluated.clear()
        report = registry.refresh(store, now=now)
        return {s.name: (s.size, s.entered, s.left, s.cause) for s in report.segments}

    kept = refresh(live_store(schema=schema), NOW + DAY / 2)  # another object, same contents, before the bound
    assert evaluated == [] and kept == {s.name: (s.size, 0, 0, "time") for s in first.segments}
    assert set(registry.members("recent")) == {10, 20} and len(registry.history("kyiv.A")) == 2
    assert refresh(store, NOW + 2 * DAY)["recent"] == (1, 0, 1, "time") and evaluated == [["opened within 7d"]]
    refresh(store, NOW)  # before the last refresh's now: the bound says nothing about it
    assert evaluated == [["city = Kyiv", "opened within 7d"]] and set(registry.members("recent")) == {10, 20}
    refresh(live_store(LIVE_CONTACTS[:4], schema=schema), NOW)  # new data
    assert evaluated == [["city = Kyiv", "opened within 7d"]]
    registry.add("lviv", "city = Lviv")  # a definition changed: a derived segment might read it
    refresh(live_store(LIVE_CONTACTS[:4], schema=schema), NOW)
    assert evaluated == [["city = Kyiv", "city = Lviv", "opened within 7d"]]
    registry.split("kyiv", {"A": 30, "B": 70})  # its split changed
    refresh(live_store(LIVE_CONTACTS[:4], schema=schema), NOW)
    assert evaluated == [["city = Kyiv"]]
