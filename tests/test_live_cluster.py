"""Live refresh on a Dask cluster (``registry.refresh(saved, now, client=client)``; runtime/live/partwise.py): a
LocalCluster of two worker processes evaluates the partitions of a saved store, which the workers open from its
folder, and the registry, written by this process only, commits exactly what a refresh in this process commits,
through appends, deletes, compactions and time."""

import datetime as dt

import pytest
from changes import NOW, Model, random_model, step, take_step
from fuzzgen import SCHEMA
from test_live_partitions import RULES, blocks, register, reported

import segmint

distributed = pytest.importorskip("dask.distributed", reason="Dask is not installed: pip install 'segmint[dask]'")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.mark.parametrize(("partitions", "engine"), [(3, "compiled"), (4, "vector"), (1, "auto")])
def test_a_refresh_on_a_cluster_commits_what_one_process_commits(client, tmp_path, partitions, engine):
    model = random_model(SCHEMA, 17, 70, 180)
    saved = segmint.SavedStore.create(tmp_path / "s", model.store(), partitions=partitions)
    here, there = segmint.Registry(tmp_path / "here.db", SCHEMA), segmint.Registry(tmp_path / "there.db", SCHEMA)
    register(here), register(there)
    now = NOW
    for turn in range(6):
        if turn:
            change = step(turn + 1, model)  # appends, a delete (turn 2), a compaction (turn 3)
            take_step(change, Model(SCHEMA), saved)
            take_step(change, model)
        now += dt.timedelta(days=turn % 3)
        expected = here.refresh(saved, now=now, engine="vector")
        got = there.refresh(saved, now=now, engine=engine, client=client)
        assert reported(got) == reported(expected), turn
        assert blocks(there, "mailer") == blocks(here, "mailer"), turn
        for name in RULES:
            assert sorted(there.members(name)) == sorted(here.members(name))


def test_a_refresh_on_a_cluster_evaluates_the_version_it_began_with(client, tmp_path):
    """Appends landing while a refresh runs are not half seen: every round reads the version the store held when
    the refresh began (its ids, digests and masks)."""
    from segmint.compiler import ir
    from segmint.runtime.bindings import bind
    from segmint.runtime.live.partwise import OnCluster

    model = random_model(SCHEMA, 9, 30, 60)
    saved = segmint.SavedStore.create(tmp_path / "s", model.store(), partitions=3)
    source = OnCluster(client, saved)
    before = [ids.tolist() for ids in source.ids()]
    saved.append(contacts=take_contacts(model, [{"contact_id": 999}]))
    plan = segmint.compile(RULES["quiet"], SCHEMA).rule.plan
    run = list(source.run((plan,), bind(ir.And((plan,)), NOW, None, SCHEMA), "vector", [(plan, {})], {}))
    assert [masks.shape[1] for _, masks, _ in run] == [len(ids) for ids in before]
    assert 999 not in {i for ids in before for i in ids} and 999 in saved.snapshot().ids.tolist()


def take_contacts(model, rows):
    from changes import contacts_table

    return contacts_table(model.schema, rows)


def test_a_cluster_refreshes_saved_stores_only(client, tmp_path):
    with segmint.Registry(":memory:", SCHEMA) as registry:
        registry.add("apple", RULES["apple"])
        with pytest.raises(segmint.SegmintError, match="saved store"):
            registry.refresh(random_model(SCHEMA, 1, 5, 5).store(), now=NOW, client=client)


cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(__import__(__name__))  # the workers cannot import the tests


def test_segments_refresh_on_a_scheduler(client, tmp_path, capsys):
    """``segmint segments refresh --data STORE_DIR --scheduler ADDRESS``: the same report as without a cluster."""
    from data import run_json

    segmint.SavedStore.create(tmp_path / "s", random_model(SCHEMA, 4, 40, 90).store(), partitions=3)
    reports = []
    for where in ([], ["--scheduler", client.scheduler.address]):
        common = ["--registry", tmp_path / f"r{len(where)}.db", "--data", tmp_path / "s"]
        assert run_json(capsys, "segments", "add", "quiet", RULES["quiet"], *common)[0] == 0
        code, report = run_json(capsys, "segments", "refresh", "--now", "2026-11-01T00:00:00Z", "--engine",
                                "vector", *common, *where)
        assert code == 0
        reports.append(report["segments"])
    assert reports[0] == reports[1] and reports[0][0]["size"] > 0
