"""Evaluation on a Dask cluster (runtime/cluster.py): a LocalCluster of two worker processes evaluates the partitions
of a saved store, which the workers open from its folder, and answers exactly as this process; ranks are among all
contacts; each missing kernel is compiled by one task only."""

import random

import numpy as np
import pytest
from changes import NOW, events_table, random_model
from data import PARTITION_RULES
from fuzzgen import SCHEMA

import segmint

distributed = pytest.importorskip("dask.distributed", reason="Dask is not installed: pip install 'segmint[dask]'")

RULES = PARTITION_RULES


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def model():
    return random_model(SCHEMA, 5, 80, 200)


@pytest.mark.parametrize("partitions", [1, 3, 8])
@pytest.mark.parametrize("engine", ["compiled", "vector", "reference", "auto"])
def test_a_cluster_answers_as_this_process(client, model, tmp_path, partitions, engine):
    saved = segmint.SavedStore.create(tmp_path / "s", model.store(), partitions=partitions)
    segments = [segmint.compile(rule, SCHEMA) for rule in RULES]
    here = segmint.evaluate_many(segments, saved, now=NOW, engine="reference")
    there = segmint.evaluate_many(segments, saved, now=NOW, engine=engine, client=client)
    for segment, a, b in zip(segments, here, there, strict=True):
        assert np.array_equal(a.mask, b.mask), (segment.text, engine)
        assert b.ids().tolist() == a.ids().tolist()
        assert b.engine in {"compiled", "vector", "reference"}


def test_a_cluster_sees_appends_deletes_and_the_version_it_was_given(client, model, tmp_path):
    saved = segmint.SavedStore.create(tmp_path / "s", model.store(), partitions=3)
    saved.append(events={"purchase": events_table(SCHEMA, "purchase", [
        {"contact_id": 3, "timestamp": NOW, "brand": "Apple", "amount": 900.0}])})
    saved.delete_contacts([4, 5])
    segments = [segmint.compile(rule, SCHEMA) for rule in RULES[:5]]
    there = segmint.evaluate_many(segments, saved, now=NOW, engine="compiled", client=client)
    for segment, b in zip(segments, there, strict=True):
        a = segment.evaluate(saved.snapshot(), now=NOW, engine="reference")
        assert b.ids().tolist() == a.ids().tolist(), segment.text
    assert 3 in there[0].ids().tolist() and not {4, 5} & set(there[1].store.ids.tolist())


CONDITIONS = ["city = Kyiv", "loyalty_points > 3", "tags has vip", "email_subscribed", "bought brand = Apple",
              "count(opened) >= 2", "sum(bought.amount) > 40", "not opened within 30d", "city = Lviv"]


def test_a_kernel_missing_from_the_cache_is_compiled_by_one_task(client, model, tmp_path):
    saved = segmint.SavedStore.create(tmp_path / "s", model.store(), partitions=4)
    # a rule no earlier run compiled: its conditions in a random order (9! orders), each order its own kernel
    segment = segmint.compile(" or ".join(random.sample(CONDITIONS, len(CONDITIONS))), SCHEMA)
    client.run(_count_compiles)
    result = segmint.evaluate_many([segment], saved, now=NOW, engine="compiled", client=client)[0]
    compiled = [module for modules in client.run(_compiled).values() for module in modules]
    assert compiled and len(compiled) == len(set(compiled))  # compiled, and never twice
    assert result.ids().tolist() == segment.evaluate(saved.snapshot(), now=NOW, engine="reference").ids().tolist()


def test_a_store_in_memory_is_refused(client, model):
    with pytest.raises(segmint.SegmintError, match="saved store"):
        segmint.evaluate_many([segmint.compile(RULES[0], SCHEMA)], model.store(), now=NOW, client=client)


# -- on the workers (kept on numba's event module: these functions travel by value, their globals do not stay) --
def _count_compiles():
    """Record, in this worker, the kernel modules Numba compiles from now on (loads from the cache are not
    compiles: numba:compile fires on a cache miss only)."""
    from numba.core import event

    class Recorder(event.Listener):
        def __init__(self):
            self.modules = []

        def on_start(self, ev):
            function = getattr(ev.data.get("dispatcher"), "py_func", None)
            if function is not None and function.__name__ == "kernel":
                self.modules.append(function.__module__)

        def on_end(self, ev):
            pass

    old = getattr(event, "segmint_test_recorder", None)
    if old is not None:
        event.unregister("numba:compile", old)
    event.segmint_test_recorder = Recorder()
    event.register("numba:compile", event.segmint_test_recorder)


def _compiled():
    from numba.core import event

    recorder = getattr(event, "segmint_test_recorder", None)
    return [] if recorder is None else recorder.modules


cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(__import__(__name__))  # the workers cannot import the tests
