"""Appends, deletes and compactions killed at any moment: after reopening, every acknowledged change is there,
nothing unacknowledged is partly there, and the store holds exactly what a store rebuilt from the acknowledged
changes (and perhaps the one in flight, whole) holds.

A helper process forks a writer that runs the changes of ``changes.step`` one after another on a saved store of
three partitions, printing the number of each once it has returned; the test SIGKILLs the writer at a random
moment, reopens the store (checksums verified) and compares its content with the model. CI runs a few kills; set
``SEGMINT_DURABILITY_KILLS`` (e.g. 500) for a long run.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from changes import Model, content, random_contact, step, take_step, unlisted_files
from fuzzgen import SCHEMA

import segmint

KILLS = int(os.environ.get("SEGMINT_DURABILITY_KILLS", "12"))

WRITER = """
import os, sys
sys.path.insert(0, sys.argv[2])
import segmint
from changes import Model, step, take_step
from fuzzgen import SCHEMA
from test_store_kills import first_model
print("ready", flush=True)
for line in sys.stdin:  # one writer per line, told how many changes are done; the test kills it
    done = int(line)
    pid = os.fork()
    if pid == 0:
        model = first_model()
        for k in range(done):
            take_step(step(k, model), model)
        saved = segmint.SavedStore.open(sys.argv[1])
        print("open", flush=True)
        k = done
        while True:
            take_step(step(k, model), model, saved)
            print(k, flush=True)
            k += 1
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("killed", flush=True)
"""


def first_model() -> Model:
    rng = random.Random(11)
    model = Model(SCHEMA)
    model.append([random_contact(rng, c) for c in range(1, 31)], {})
    return model


def model_after(changes: int) -> Model:
    model = first_model()
    for k in range(changes):
        take_step(step(k, model), model)
    return model


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the writer is forked")
def test_a_change_killed_at_any_moment_is_there_whole_or_not_at_all(tmp_path):
    folder = tmp_path / "s"
    saved = segmint.SavedStore.create(folder, first_model().store(), partitions=3)
    started, model = time.perf_counter(), first_model()
    for k in range(5):
        take_step(step(k, model), model, saved)
    one_change = (time.perf_counter() - started) / 5
    done = 5
    helper = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(Path(__file__).parent)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rng = random.Random(KILLS)
    in_flight = mid_change = 0
    try:
        assert helper.stdout.readline().strip() == "ready"
        for _ in range(KILLS):
            helper.stdin.write(f"{done}\n")
            helper.stdin.flush()
            writer = int(helper.stdout.readline())
            assert helper.stdout.readline().strip() == "open"  # kill during changes, not while it starts
            acknowledged, since = done, time.perf_counter()
            for _ in range(rng.randint(0, 3)):  # let a few changes through, timing them as the writer runs
                acknowledged = int(helper.stdout.readline()) + 1
                one_change, since = time.perf_counter() - since, time.perf_counter()
            time.sleep(rng.uniform(0, 1.5 * one_change))
            os.kill(writer, signal.SIGKILL)
            while (line := helper.stdout.readline().strip()) != "killed":
                acknowledged = int(line) + 1
            listed = (folder / "manifest.json").read_text()
            mid_change += any(p.name.split("/")[0] not in listed and p.name not in (".lock", "manifest.json")
                              for p in folder.iterdir())  # a killed write left files: it was killed mid-change
            opened = content(segmint.SavedStore.open(folder, verify=True).snapshot())
            if opened == content(model_after(acknowledged).store()):
                done = acknowledged
            else:  # the change in flight was committed before the kill, and is there whole
                assert opened == content(model_after(acknowledged + 1).store())
                done, in_flight = acknowledged + 1, in_flight + 1
    finally:
        helper.kill()
        helper.wait()
    final = segmint.SavedStore.open(folder, verify=True)
    final.compact()  # a last write clears what killed writers left
    assert content(final.snapshot()) == content(model_after(done).store())
    assert unlisted_files(folder) == [".lock", "manifest.json"]
    assert done > 5, "no change was acknowledged between kills"
    print(f"{KILLS} kills, {done} changes done, {mid_change} killed mid-change, {in_flight} committed but killed "
          "before acknowledging")
