"""A save killed at any moment leaves the old store or the new one, whole, and nothing else of the user's gone.

A helper process prepares two different stores, then forks a saver that writes them over the same folder in turn,
without end; the test SIGKILLs the saver at a random moment, then opens the folder, which must hold one of the two
stores exactly (checksums verified), with the user's files in and beside it untouched. CI runs a few kills; set
``SEGMINT_DURABILITY_KILLS`` (e.g. 500) for a long run.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
from savedstore import generated_store, listing, same_content

import segmint
from segmint.runtime.store import persist

KILLS = int(os.environ.get("SEGMINT_DURABILITY_KILLS", "20"))

SAVER = """
import os, sys
sys.path.insert(0, sys.argv[2])
from savedstore import generated_store
stores = [generated_store(0), generated_store(1)]
print("ready", flush=True)
for _ in sys.stdin:  # one saver per line; the test kills it
    pid = os.fork()
    if pid == 0:
        k = 0
        while True:
            stores[k % 2].save(sys.argv[1])
            k += 1
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("killed", flush=True)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the saver is forked")
def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_store(tmp_path):
    folder = tmp_path / "store"
    stores = [generated_store(0), generated_store(1)]
    stores[0].save(folder)
    (folder / "notes.txt").write_text("mine")
    (tmp_path / "beside.txt").write_text("mine too")
    started = time.perf_counter()
    stores[1].save(folder)
    one_save = time.perf_counter() - started
    mine = {"store/notes.txt": b"mine", "beside.txt": b"mine too"}
    helper = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(folder), str(Path(__file__).parent)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    rng = random.Random(KILLS)
    seen, remains = set(), 0
    try:
        assert helper.stdout.readline().strip() == "ready"
        for _ in range(KILLS):
            helper.stdin.write("\n")
            helper.stdin.flush()
            saver = int(helper.stdout.readline())
            time.sleep(rng.uniform(0, 3 * one_save))
            os.kill(saver, signal.SIGKILL)
            assert helper.stdout.readline().strip() == "killed"
            opened = segmint.Store.open(folder, verify=True)
            matches = [k for k, store in enumerate(stores) if same_content(opened, store)]
            assert len(matches) == 1
            seen.add(matches[0])
            remains += len([p for p in folder.iterdir() if p.name.startswith(("data-", ".manifest"))]) > 1
            files = listing(tmp_path)
            assert {name: files.get(name) for name in mine} == mine
    finally:
        helper.kill()
        helper.wait()
    stores[0].save(folder)  # a last save clears what killed saves left
    assert same_content(segmint.Store.open(folder, verify=True), stores[0])
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 4 and names[0] == ".lock" and names[1].startswith("data-")
    assert names[2:] == ["manifest.json", "notes.txt"]
    assert seen, "no kill was checked"
    print(f"{KILLS} kills, {remains} mid-save, stores seen {sorted(seen)}")


def test_opening_while_another_thread_saves_gives_one_of_the_stores(tmp_path):
    folder = tmp_path / "store"
    stores = [generated_store(0, contacts=2_000), generated_store(1, contacts=2_000)]
    stores[0].save(folder)
    stop = threading.Event()

    def save_in_turn():
        k = 1
        while not stop.is_set():
            stores[k % 2].save(folder)
            k += 1

    saver = threading.Thread(target=save_in_turn)
    saver.start()
    try:
        for _ in range(40):
            opened = segmint.Store.open(folder)
            assert sum(same_content(opened, store) for store in stores) == 1
    finally:
        stop.set()
        saver.join()


LOOPING_SAVER = """
import sys
sys.path.insert(0, sys.argv[2])
from savedstore import generated_store
stores = [generated_store(0, contacts=2_000), generated_store(1, contacts=2_000)]
print("ready", flush=True)
k = 0
while True:
    stores[k % 2].save(sys.argv[1])
    k += 1
"""


def test_opening_against_a_saver_in_a_tight_loop_needs_no_retry(tmp_path):
    """Opening holds the switch lock shared, the saver holds it exclusively around its switch and removals: every
    open reads one whole store at the first attempt (retries, kept for folders without a lock file, are off)."""
    folder = tmp_path / "store"
    stores = [generated_store(0, contacts=2_000), generated_store(1, contacts=2_000)]
    stores[0].save(folder)
    saver = subprocess.Popen([sys.executable, "-c", LOOPING_SAVER, str(folder), str(Path(__file__).parent)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert saver.stdout.readline().strip() == "ready"
        with mock.patch.object(persist, "REOPEN_ATTEMPTS", 1):
            for _ in range(60):
                opened = segmint.Store.open(folder)
                assert sum(same_content(opened, store) for store in stores) == 1
    finally:
        saver.kill()
        saver.wait()
