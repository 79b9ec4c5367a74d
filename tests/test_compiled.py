"""The compiled engine's contracts beyond "same answers" (which tests/test_examples.py and the differential tests
check): user text never reaches generated source, values are inputs, the kernel cache, threads."""

import dataclasses
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numba
import numpy as np
import pytest
from data import CASES, CONTACTS, EVENTS, NOW
from storebuilder import build_store

import segmint
from segmint.compiler import ir
from segmint.compiler.kernels import plan as kp
from segmint.runtime.bindings import bind
from segmint.runtime.engines import compile_worker, compiled
from segmint.runtime.engines import threads as thread_ranges
from segmint.runtime.engines.compile_worker import compile_elsewhere
from segmint.runtime.engines.compiled import COMPILED, KernelCache

HOSTILE = segmint.Schema.from_dict(
    {
        "contacts": {
            "attributes": {
                "__import__": "int",
                "kernel": {"type": "category", "values": ["'); import os; os.system('boom') #", "ok"]},
                "A0": "string",
            }
        },
        "events": {"exec": {"verb": "ki", "properties": {"globals": "float", "sys": "string"}}},
        "definitions": {"mi": "ki globals > 1"},
    }
)


@pytest.fixture(scope="module")
def store(schema):
    return build_store(schema, CONTACTS, EVENTS)


def forget_kernels(monkeypatch) -> None:
    """As in a new process: only the disk cache knows the kernels."""
    monkeypatch.setattr(COMPILED, "kernels", KernelCache())


def test_user_text_never_reaches_the_source():
    store = build_store(
        HOSTILE,
        [
            {"id": 1, "__import__": 5, "kernel": "'); import os; os.system('boom') #", "A0": "x\"y"},
            {"id": 2, "__import__": 7, "kernel": "ok", "A0": "zzz_unusual"},
        ],
        {"exec": [{"id": 1, "ts": "2026-10-01T00:00:00Z", "globals": 3.5, "sys": "os.system"}]},
    )
    rule = (
        '__import__ > 4 and kernel = "\'); import os; os.system(\'boom\') #" and A0 != "zzz_unusual" '
        'and mi and ki sys = "os.system"'
    )
    seg = segmint.compile(rule, HOSTILE)
    source = seg.kernel(store).source
    for text in ("__import__", "boom", "os.system", "zzz_unusual", "globals", "exec", "sys ="):
        assert text not in source
    assert seg.evaluate(store, now=NOW, engine="compiled").ids().tolist() == [1]


def test_one_kernel_serves_every_value(schema, store):
    a = segmint.compile("opened > 2 within 90d and city = Kyiv and loyalty_points > 10", schema)
    b = segmint.compile("opened > 7 within 3d and city = Lviv and loyalty_points > 99", schema)
    assert a.kernel(store).source == b.kernel(store).source
    parametric = segmint.compile("viewed category = $c within $w", schema)
    results = [
        parametric.evaluate(store, now=now, params={"c": c, "w": w}, engine="compiled").count
        for now, c, w in [(NOW, "iPhones", "7d"), (NOW, "Vinyl", "30d"), ("2026-10-05", "iPhones", "1y")]
    ]
    assert results == [2, 1, 0]


def test_kernel_cache_on_disk_survives_corruption(schema, store, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(tmp_path))
    seg = segmint.compile("bought brand = Apple and not opened within 7d", schema)
    expected = seg.evaluate(store, now=NOW, engine="reference").mask
    kernel = seg.kernel(store)
    forget_kernels(monkeypatch)
    assert (seg.evaluate(store, now=NOW, engine="compiled").mask == expected).all()
    [path] = tmp_path.glob("segmint_kernel_*.py")
    path.write_text("this is not python (")
    forget_kernels(monkeypatch)
    sys.modules.pop(path.stem, None)
    assert (seg.evaluate(store, now=NOW, engine="compiled").mask == expected).all()
    assert path.read_text() == kernel.source


def test_new_process_loads_the_kernel_from_disk(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from data import CONTACTS, DEMO_SCHEMA, EVENTS, NOW
        from storebuilder import build_store
        import segmint
        schema = segmint.Schema.from_toml(DEMO_SCHEMA)
        store = build_store(schema, CONTACTS, EVENTS)
        seg = segmint.compile("sum(bought.amount within 365d) > 500 and clicked", schema)
        started = time.perf_counter()
        print(seg.evaluate(store, now=NOW, engine="compiled").ids().tolist(), time.perf_counter() - started)
        """
    )
    env = {"SEGMINT_KERNEL_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = lambda: subprocess.run(  # noqa: E731
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    ).stdout.rsplit(" ", 1)
    ids_cold, _ = run()
    ids_warm, _ = run()
    assert ids_cold == ids_warm == "[1, 5]"
    assert list(tmp_path.glob("segmint_kernel_*.py"))
    assert list(tmp_path.glob("__pycache__/*.nbi")), "Numba wrote no cache index next to the kernel module"


def test_cache_can_be_switched_off(schema, store, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", "off")
    forget_kernels(monkeypatch)
    assert segmint.compile("engaged", schema).evaluate(store, now=NOW, engine="compiled").count == 3
    assert compiled.cache_folder() is None


@pytest.mark.parametrize("engine", ["compiled", "vector"])
def test_threads_share_segments_safely(schema, store, engine):
    segments = [segmint.compile(rule, schema) for rule, _ in CASES[:20]]
    expected = [s.evaluate(store, now=NOW, engine=engine).mask for s in segments]
    failures = []

    def work():
        for segment, mask in zip(segments, expected, strict=True):
            if not np.array_equal(segment.evaluate(store, now=NOW, engine=engine).mask, mask):
                failures.append(segment.text)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


@pytest.mark.parametrize("engine", ["compiled", "vector"])
def test_results_do_not_depend_on_the_thread_count(schema, store, monkeypatch, engine):
    monkeypatch.setattr(thread_ranges, "MIN_PER_THREAD", 1)  # split even this small store across threads
    segments = [segmint.compile(rule, schema) for rule, _ in CASES]
    masks = {}
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        masks[threads] = [s.evaluate(store, now=NOW, engine=engine).mask for s in segments]
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert all(np.array_equal(a, b) for a, b in zip(*masks.values(), strict=True))


def test_auto_answers_at_once_and_compiles_in_the_background(schema, store, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(tmp_path))
    forget_kernels(monkeypatch)
    seg = segmint.compile("max(viewed.price within 30d) > 100 and not clicked device = ios", schema)
    expected = seg.evaluate(store, now=NOW, engine="reference").mask
    first = seg.evaluate(store, now=NOW)
    assert first.engine == "vector" and np.array_equal(first.mask, expected)
    kernel = seg.kernel(store)
    deadline = time.monotonic() + 120
    while not COMPILED.kernels.ready(kernel) and time.monotonic() < deadline:
        time.sleep(0.05)
    # compiled in a child process (runtime/engines/compile_worker.py), into the disk cache, where this process finds it
    assert COMPILED.kernels.ready(kernel) and list(tmp_path.glob("__pycache__/*.nbi")), "the kernel was not compiled"
    later = seg.evaluate(store, now=NOW)
    assert later.engine == "compiled" and np.array_equal(later.mask, expected)


def test_a_child_process_compiles_into_the_disk_cache(schema, store, tmp_path, monkeypatch):
    """What auto's background compile runs: the kernel compiled by another process, which this one then loads from
    the disk cache instead of compiling."""
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(tmp_path))
    forget_kernels(monkeypatch)
    seg = segmint.compile("count(clicked within 60d) >= 1 and loyalty_points > 5", schema)
    plans, bindings = (seg.rule.plan,), bind(seg.rule.plan, NOW, None)
    kernel = seg.kernel(store)
    arguments = (0, 0, np.empty((1, 1), np.bool_), *compiled.kernel_inputs(kernel, plans, store, bindings))
    signature = tuple(map(numba.typeof, arguments))
    assert not COMPILED.kernels.ready(kernel)
    assert compile_elsewhere(compiled.module_name(kernel), kernel.source, tmp_path, signature) == "compiled"
    assert COMPILED.kernels.ready(kernel)
    function = COMPILED.kernels.load(kernel)
    expected = seg.evaluate(store, NOW, engine="reference").mask
    assert np.array_equal(COMPILED.kernels.run(plans, store, bindings)[0], expected)
    assert function.stats.cache_hits and not function.stats.cache_misses, "this process compiled the kernel again"


def test_a_compile_over_its_memory_limit_fails_alone(schema, store, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(compile_worker, "COMPILE_MEMORY", 64 * 2**20)  # less than Python with Numba needs
    seg = segmint.compile("count(clicked within 30d) >= 2 or loyalty_points > 15", schema)
    kernel = seg.kernel(store)
    arguments = (0, 0, np.empty((1, 1), np.bool_), *compiled.kernel_inputs(kernel, (seg.rule.plan,), store,
                                                                    bind(seg.rule.plan, NOW, None)))
    signature = tuple(map(numba.typeof, arguments))
    name = compiled.module_name(kernel)
    assert compile_worker.compile_elsewhere(name, kernel.source, tmp_path, signature) == "failed"
    assert not COMPILED.kernels.ready(kernel)


def test_without_a_child_process_the_compiler_thread_compiles(schema, store, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(tmp_path))
    forget_kernels(monkeypatch)
    monkeypatch.setattr(compiled, "compile_elsewhere", lambda *args: "unavailable")
    seg = segmint.compile("max(bought.quantity within 90d) > 1 or clicked device = web", schema)
    assert seg.evaluate(store, now=NOW).engine == "vector"
    COMPILED.kernels.wait_for_background()
    compiled_by_thread = COMPILED.kernels.load(seg.kernel(store))
    assert len(compiled_by_thread.signatures) == 1, "the compiler thread did not compile the kernel"
    assert seg.evaluate(store, now=NOW).engine == "compiled"


def test_a_failed_background_compile_leaves_the_rule_to_the_vector_engine(schema, store, tmp_path, monkeypatch):
    """A compile that fails in its child process (over its memory or time limit) is not tried again on every
    evaluation: auto keeps answering with the vector engine."""
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(tmp_path))
    forget_kernels(monkeypatch)
    attempts = []
    monkeypatch.setattr(compiled, "compile_elsewhere", lambda *args: attempts.append(args[0]) or "failed")
    seg = segmint.compile("min(bought.amount within 90d) < 40 or opened device = android", schema)
    expected = seg.evaluate(store, now=NOW, engine="reference").mask
    for _ in range(3):
        result = seg.evaluate(store, now=NOW)
        assert result.engine == "vector" and np.array_equal(result.mask, expected)
        COMPILED.kernels.wait_for_background()  # the compiler thread has done what was asked of it
    assert len(attempts) == 1


def test_auto_uses_a_kernel_cached_on_disk(schema, store, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(tmp_path))
    seg = segmint.compile("bought quantity > 1 within 60d", schema)
    seg.evaluate(store, now=NOW, engine="compiled")
    forget_kernels(monkeypatch)
    assert seg.evaluate(store, now=NOW).engine == "compiled"


def test_loaded_and_opened_stores_share_one_compile(schema, store, tmp_path):
    store.save(tmp_path / "s")
    opened = segmint.Store.open(tmp_path / "s")  # memory-mapped, read-only arrays
    seg = segmint.compile("sum(bought.amount within 365d) > 5 or clicked device = ios or city = Kyiv", schema)
    expected = seg.evaluate(store, now=NOW, engine="reference").mask
    for s in (store, opened):
        assert np.array_equal(seg.evaluate(s, now=NOW, engine="compiled").mask, expected)
    assert expected.any()
    assert len(COMPILED.kernels.load(seg.kernel(store)).signatures) == 1


def with_strings(store, change, types=(segmint.Type.STRING,)):
    """``store`` with ``change(column)`` applied to every string column (attributes and event properties), or to
    every column of ``types``."""
    def apply(column):
        return change(column) if column.type in types else column

    return dataclasses.replace(
        store,
        attributes={name: apply(c) for name, c in store.attributes.items()},
        events={name: dataclasses.replace(t, properties={p: apply(c) for p, c in t.properties.items()})
                for name, t in store.events.items()},
    )


STRING_RULES = ["city = Kyiv or gender != m", "city not in (Kyiv, Lviv) and not opened within 7d",
                "city is null or email endswith \"@gmail.com\"", "city != Kyiv", "opened device = ios",
                "bought brand in (Apple, Sony) > 1 times", "viewed category != iPhones within 30d"]
TAG_RULES = ["tags has vinyl", "tags has any (vinyl, jazz) and city = Kyiv", "tags has all (vinyl, vip)",
             "not tags has any (jazz, nosuchtag)", "tags has all (vinyl, nosuchtag)"]


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_every_code_width_gives_the_same_answers(schema, store, dtype):
    """String codes come in the narrowest integer type that fits the dictionary; nulls hold -1 in each."""
    wide = with_strings(store, lambda column: dataclasses.replace(column, values=column.values.astype(dtype)))
    for rule in STRING_RULES:
        seg = segmint.compile(rule, schema)
        expected = seg.evaluate(store, now=NOW, engine="reference").mask
        assert np.array_equal(seg.evaluate(wide, now=NOW, engine="compiled").mask, expected), (rule, dtype)


@pytest.mark.parametrize("padded", [False, True])
def test_small_and_large_dictionaries_give_the_same_answers(schema, store, padded):
    """A string or tags column of at most 63 values is tested against the bits of one number, a larger one through
    a table over its dictionary; padding the dictionaries with unused values takes the second path on the same
    data."""
    extra = tuple(f"unused-{k}" for k in range(100))
    large = with_strings(store, lambda column: dataclasses.replace(column, dictionary=(*column.dictionary, *extra)),
                         types=(segmint.Type.STRING, segmint.Type.TAGS))
    for rule in STRING_RULES + TAG_RULES:
        seg = segmint.compile(rule, schema)
        expected = seg.evaluate(store, now=NOW, engine="reference").mask
        got = seg.evaluate(large if padded else store, now=NOW, engine="compiled")
        assert np.array_equal(got.mask, expected), (rule, padded)
        small = seg.kernel(large if padded else store).plan.small
        if any(isinstance(n, ir.Compare | ir.InSet | ir.HasTags) for n in ir.walk(seg.rule.plan)):
            assert bool(small) is not padded, rule


def leaves(decision: kp.Decision) -> list[str]:
    """The kinds of what the first loop decides, in the order of the conditions."""
    match decision:
        case kp.Combined(parts=parts):
            return [kind for part in parts for kind in leaves(part)]
        case kp.Negated(part=part):
            return leaves(part)
    return [type(decision).__name__]


@pytest.mark.parametrize(
    ("rule", "first", "tests"),
    [
        # existence of unfiltered events: the last event time decides, events are searched only when unsure
        ("opened within 30d or clicked within 30d", ["ByLastEvent", "ByLastEvent"], []),
        ("bought and not bought within 90d", ["ByLastEvent", "ByLastEvent"], []),
        # a count against a number: the n-th latest event, no search for the window's start
        ("opened > 2 within 90d", ["ByNoEvents"], [("at least", True)]),
        # filtered existence: a scan that stops at the first match; all time needs no search for a start
        ("bought brand = Apple", ["ByNoEvents"], [("scan", False)]),
        ("bought brand = Apple within 30d", ["ByNoEvents"], [("scan", True)]),
        # attributes only: nothing is left for a second loop
        ("gender = f and city in (Kyiv, Lviv)", ["ByOwnColumns", "ByOwnColumns"], []),
    ],
)
def test_kernel_shape(schema, store, rule, first, tests):
    """What the kernel plan says for the conditions segments use most (docs/embedding.md, "How a compiled kernel
    spends its time"): what the first loop decides, how the second works out tests on events, and that none of
    them needs a pass computing measures; answers are checked against the reference."""
    seg = segmint.compile(rule, schema)
    plan = seg.kernel(store).plan
    [rule_plan] = plan.rules
    assert leaves(rule_plan.first) == first
    assert [(test.how, test.searches_start) for test in plan.tests] == tests
    assert plan.passes == ()
    assert rule_plan.second is (first != ["ByOwnColumns", "ByOwnColumns"])
    expected = seg.evaluate(store, now=NOW, engine="reference").mask
    assert np.array_equal(seg.evaluate(store, now=NOW, engine="compiled").mask, expected)


def test_every_suite_rule_prints_its_kernel_plan(schema, store):
    """Each rule of the benchmark suite, and the suite as one batch, prints as a kernel plan a person can read: its
    conditions, what the first loop decides, the passes over events and every input by its name in the source."""
    suite = pytest.importorskip("segmint.benchmarks.suite")  # the suite imports Polars (bench extra)
    segments = [segmint.compile(rule.text, schema) for rule in suite.SUITE]
    for segment in segments:
        kernel = segment.kernel(store)
        text = str(kernel)
        assert text.startswith("kernel plan: 1 rule\nrule 0: ") and "first loop decides:" in text, segment.text
        events = {n.event for n in ir.walk(segment.rule.plan) if isinstance(n, ir.EventSet)}
        assert all(event in text for event in events), segment.text
        assert [line.split(" = ")[0].strip() for line in text.split("inputs:\n")[1].splitlines()] == [
            *(f"A{n}" for n in range(len(kernel.arrays))),
            *(f"ki[{n}]" for n in range(len(kernel.ints))),
            *(f"kf[{n}]" for n in range(len(kernel.floats))),
        ]
        assert " object at 0x" not in text
    batch = COMPILED.kernels.kernel_for(tuple(s.rule.plan for s in segments), store)
    assert str(batch.plan).startswith(f"kernel plan: {len(segments)} rules")


def test_a_batch_works_out_what_its_segments_share_once(schema, store):
    """A test two segments share is written where each needs it, guarded by a per-contact flag: the first place
    reached works it out, the other reads its answer."""
    segments = [segmint.compile(rule, schema) for rule in ("opened > 2 within 90d and bought brand = Apple",
                                                           "bought brand = Apple or opened > 2 within 90d")]
    plan = COMPILED.kernels.kernel_for(tuple(s.rule.plan for s in segments), store).plan
    assert [(test.how, test.uses) for test in plan.tests] == [("at least", 2), ("scan", 2)]
    assert [plan.memoized(test.node) for test in plan.tests] == [0, 1]
    batch = segmint.evaluate_many(segments, store, now=NOW, engine="compiled")
    for segment, result in zip(segments, batch, strict=True):
        assert np.array_equal(result.mask, segment.evaluate(store, now=NOW, engine="reference").mask)


@pytest.mark.parametrize("per_contact", [0.0, 1e9])  # no event type blocked / every type with fitting measures
def test_blocked_and_per_contact_passes_agree(schema, store, monkeypatch, per_contact):
    """Sparse event types (about one event per contact or fewer) are measured per block of contacts; moving the
    threshold so that no type, or every type, is measured that way changes no answer."""
    monkeypatch.setattr(compiled, "SPARSE_EVENTS_PER_CONTACT", per_contact)
    monkeypatch.setattr(COMPILED, "kernels", KernelCache())  # kernels generated with the threshold stay here
    rules = [rule for rule, _ in CASES] + [
        "sum(bought.amount within 365d) > 5 and avg(bought.amount within 365d) > 1",
        "count(viewed category = iPhones within 30d) >= 2 or bought brand = Apple",
        "not bought category = iPhones and opened",
        "opened > 1 times and sum(opened.campaign_id) > 0",  # a count test on a type that another measure blocks
    ]
    for rule in rules:
        seg = segmint.compile(rule, schema)
        expected = seg.evaluate(store, now=NOW, engine="reference").mask
        assert np.array_equal(seg.evaluate(store, now=NOW, engine="compiled").mask, expected), (rule, per_contact)
    shared = [*rules[-4:], "opened > 1 times or clicked"]  # a batch sharing tests on blocked types
    segments = [segmint.compile(rule, schema) for rule in shared]
    for segment, result in zip(segments, segmint.evaluate_many(segments, store, now=NOW, engine="compiled"),
                               strict=True):
        assert np.array_equal(result.mask, segment.evaluate(store, now=NOW, engine="reference").mask)
    plan = segmint.compile(rules[-4], schema).kernel(store).plan
    assert bool(plan.blocked) is (per_contact > 0)
