"""A fresh process's first rule: what it would otherwise pay before any work of its own (issue 13's 0.5 s profile).
Timings are the benchmark's (``python -m segmint.benchmarks.profile_cold``); these tests hold the mechanisms."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from data import CONTACTS, EVENTS, NOW_TEXT
from storebuilder import build_store


def test_opening_a_store_loads_the_kernels_its_first_rule_runs(schema, tmp_path):
    """``Store.open`` loads the vector engine's window and count kernels in the background, for the argument types
    of an opened store: a rule evaluated then loads none of them again."""
    build_store(schema, CONTACTS, EVENTS).save(tmp_path / "store")
    script = textwrap.dedent(
        f"""
        import json, threading
        import segmint
        from segmint.runtime.engines import vector
        store = segmint.Store.open({str(tmp_path / "store")!r})
        for thread in threading.enumerate():
            if thread.name == "segmint-warm":
                thread.join()
        kernels = (vector._window_ranges, vector._count_kept)
        warmed = [list(map(str, k.signatures)) for k in kernels]
        seg = segmint.compile("opened device = ios within 30d or clicked > 1 times within 365d", store.schema)
        count = seg.evaluate(store, now={NOW_TEXT!r}, engine="vector").count
        print(json.dumps([warmed, [list(map(str, k.signatures)) for k in kernels], count]))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr
    warmed, used, count = json.loads(done.stdout)
    assert all(len(signatures) == 1 for signatures in warmed)
    assert used == warmed
    assert count > 0


def test_segmint_bench_reports_the_fresh_process_profile_as_a_goal(schema, tmp_path):
    from segmint.benchmarks import profile_cold, run
    from segmint.benchmarks.report import GOAL_PROFILE_SECONDS, goals

    build_store(schema, CONTACTS, EVENTS).save(tmp_path / "store")
    profile = run._profile_process(tmp_path / "store", NOW_TEXT)
    assert profile["import"] > 0 and profile["open"] > 0
    assert [row["rule"] for row in profile["rules"]] == list(profile_cold.RULES)
    slowest = max(row["seconds"] for row in profile["rules"])
    [goal] = [g for g in goals(run.Bench(len(CONTACTS), profile=profile)) if "condition counts" in g.name]
    assert (goal.value, goal.target) == (slowest, GOAL_PROFILE_SECONDS)
