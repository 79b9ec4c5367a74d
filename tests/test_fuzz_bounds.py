"""The fuzz properties that run compiled kernels on damaged and hostile data, again in a fresh process with Numba's
bounds checks on (``NUMBA_BOUNDSCHECK=1``): an index out of bounds in a kernel then raises ``IndexError``, which
those properties report as a raw exception, where without the checks it would read memory silently. The process gets
its own, empty cache folders: bounds checks change the machine code, so no cached kernel may be reused.
"""

import os
import subprocess
import sys
from pathlib import Path

from fuzzgen import LONG

TESTS = Path(__file__).parent
# Everything compiles afresh in the subprocess (30-40 s here), so CI runs the damaged stores only.
SLICE = ["test_fuzz_store.py::test_fuzz_damaged_stores_compiled"]
if LONG:
    SLICE += ["test_fuzz_data.py::test_fuzz_loaders_compiled", "test_fuzz_text.py::test_fuzz_hostile_values_compiled"]


def test_fuzz_kernels_with_bounds_checks(tmp_path):
    env = os.environ | {
        "NUMBA_BOUNDSCHECK": "1",
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        "SEGMINT_KERNEL_CACHE": str(tmp_path / "kernels"),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(str(TESTS / test) for test in SLICE)]
    run = subprocess.run(
        command, cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=6 * 3600 if LONG else 1800
    )
    assert run.returncode == 0, f"with NUMBA_BOUNDSCHECK=1:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
