"""A refresh is all or nothing: the writer, a real process, is killed with SIGKILL at random moments while it
refreshes, many times; the registry must reopen with every refresh it acknowledged, and its membership must always be
what replaying its committed changes from nothing gives (no refresh half applied).

SEGMINT_KILL_RUNS sets the number of kills (6 by default, in CI; try 200 locally), each on one store and on a saved
store of 3 partitions.
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import segmint

RUNS = int(os.environ.get("SEGMINT_KILL_RUNS", "6"))
TESTS = Path(__file__).parent

WRITER = textwrap.dedent("""
    import datetime as dt, sys
    sys.path.insert(0, {tests!r})
    import segmint
    from data import DEMO_SCHEMA, NOW
    from data import live_store
    schema = segmint.Schema.from_toml(DEMO_SCHEMA)
    store = live_store(schema=schema)
    if {partitions} > 1:  # a saved store of partitions, refreshed partition by partition (its layout in the registry)
        folder = {path!r} + ".store"
        try:
            store = segmint.SavedStore.open(folder)
        except segmint.SegmintError:
            store = segmint.SavedStore.create(folder, store, partitions={partitions})
    registry = segmint.Registry({path!r}, schema)
    for name, rule in (("recent", "opened within 7d"), ("ios", "opened device = ios within 10d"),
                       ("quiet", "not opened within 5d"), ("both", "recent and ios")):
        if name not in {{d.name for d in registry.list()}}:
            registry.add(name, rule)
    print("ready", flush=True)
    day = len(registry.history("recent"))
    while True:
        report = registry.refresh(store, now=NOW + dt.timedelta(hours=7 * day) - dt.timedelta(days=10),
                                  engine="reference")
        print("committed", report.seq, flush=True)
        day += 1
""")


def replayed(registry) -> dict[str, set]:
    members: dict[str, set] = {}
    for change in registry.changes("replay", since=0):
        group = members.setdefault(change.segment, set())
        if change.change == "entered":
            assert change.id not in group, change
            group.add(change.id)
        else:
            assert change.id in group, change
            group.discard(change.id)
    return members


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("run", range(RUNS))
def test_refreshes_survive_sigkill(schema, tmp_path_factory, run, partitions):
    path = tmp_path_factory.getbasetemp() / f"killed-{partitions}.db"  # one registry for every run: kills accumulate
    rng = random.Random(run)
    child = subprocess.Popen([sys.executable, "-c", WRITER.format(tests=str(TESTS), path=str(path),
                                                                   partitions=partitions)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    acknowledged = 0
    os.set_blocking(child.stdout.fileno(), False)
    deadline = rng.uniform(0.05, 1.5)
    started = time.monotonic()
    output = ""  # a read can end inside a line: only whole lines count as acknowledged
    while time.monotonic() - started < deadline:
        output += child.stdout.readline()
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    output += child.stdout.read() or ""  # acknowledged before the kill, read after it
    for line in output.split("\n")[:-1]:
        if line.startswith("committed"):
            acknowledged = int(line.split()[1])
    with segmint.Registry(path, schema) as registry:
        last = max((p.seq for p in registry.history("recent")), default=0)
        assert last >= acknowledged
        replay = {name: ids for name, ids in replayed(registry).items() if ids}
        assert replay == {d.name: set(registry.members(d.name)) for d in registry.list() if registry.members(d.name)}
        seqs = {d.refreshed_seq for d in registry.list()}
        assert len(seqs) == 1  # every segment was refreshed by the same (last) refresh, or none was
