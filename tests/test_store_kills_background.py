"""A writer appending while compactions run in the background, killed at any moment: after reopening (checksums
verified), every acknowledged append is there, nothing unacknowledged is partly there, the store holds exactly what a
store rebuilt from the acknowledged appends (and perhaps the one in flight, whole) holds, and the next commit sweeps
what the killed compaction left (its generation and its lock file)."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from changes import Model, contacts_table, content, events_table, random_contact, random_event, unlisted_files
from fuzzgen import SCHEMA

import segmint

KILLS = int(os.environ.get("SEGMINT_DURABILITY_KILLS", "6"))

WRITER = """
import sys
sys.path.insert(0, sys.argv[2])
import segmint
from test_store_kills_background import append_batch
saved = segmint.SavedStore.open(sys.argv[1])
print("open", flush=True)
k = int(sys.argv[3])
while True:
    compaction = saved.compact_in_background()
    append_batch(saved, k)
    print(k, flush=True)
    compaction.result()
    k += 1
"""


def batch(k: int) -> tuple[list[dict], dict]:
    rng = random.Random(k)
    new = list(range(1000 + 3 * k, 1003 + 3 * k))
    return ([random_contact(rng, c) for c in new],
            {"purchase": [random_event(rng, "purchase", rng.choice(new)) for _ in range(5)]})


def append_batch(saved: segmint.SavedStore, k: int) -> None:
    contacts, events = batch(k)
    saved.append(events={n: events_table(SCHEMA, n, r) for n, r in events.items()},
                 contacts=contacts_table(SCHEMA, contacts))


def model_after(appends: int) -> Model:
    rng = random.Random(11)
    model = Model(SCHEMA)
    model.append([random_contact(rng, c) for c in range(1, 31)],
                 {"purchase": [random_event(rng, "purchase", rng.randint(1, 30)) for _ in range(60)]})
    for k in range(appends):
        model.append(*batch(k))
    return model


def test_a_background_compaction_killed_at_any_moment_loses_nothing(tmp_path):
    folder = tmp_path / "s"
    segmint.SavedStore.create(folder, model_after(0).store(), partitions=3)
    rng, done, mid_compaction = random.Random(KILLS), 0, 0
    for _ in range(KILLS):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(Path(__file__).parent), str(done)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert writer.stdout.readline().strip() == "open"
            acknowledged = done
            for _ in range(rng.randint(0, 3)):
                acknowledged = int(writer.stdout.readline()) + 1
            time.sleep(rng.uniform(0, 0.3))
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            rest = writer.stdout.read().split()
            writer.wait()
        acknowledged = max([acknowledged, *(int(line) + 1 for line in rest)])
        mid_compaction += any(p.name.startswith(".compacting-") for p in folder.iterdir())
        opened = content(segmint.SavedStore.open(folder, verify=True).snapshot())
        if opened == content(model_after(acknowledged).store()):
            done = acknowledged
        else:  # the append in flight was committed before the kill, and is there whole
            assert opened == content(model_after(acknowledged + 1).store())
            done = acknowledged + 1
    final = segmint.SavedStore.open(folder, verify=True)
    final.compact()  # a last write sweeps what killed writers left
    assert content(final.snapshot()) == content(model_after(done).store())
    assert unlisted_files(folder) == [".lock", "manifest.json"]
    assert len([p for p in folder.iterdir() if p.name.startswith("data-")]) == 3
    assert done > 0, "no append was acknowledged between kills"
    print(f"{KILLS} kills, {done} appends done, {mid_compaction} killed while a compaction wrote its generation")
