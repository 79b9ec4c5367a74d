"""``auto``'s background compiles, each in a process of its own: compiled into the disk cache, then loaded from it.

Numba's compiler holds the GIL most of the time, so a compile on a thread of the application slows the application's
own evaluations (measured before: 1.3 ms -> 70 ms median while a kernel compiled), and a compile that runs away
would take the application's memory with it. A child process compiles with neither: it runs at a lower priority
(nice 10), its address space is limited to ``COMPILE_MEMORY`` (a compile that passes it fails alone, and its kernel
stays with the vector engine in this process), and the application's threads keep the GIL. The child imports the
kernel module exactly as the application does (runtime/engines/kernel_cache.py), compiles it for the argument types the
application will pass, and Numba's cache writes the result, which the application then loads in milliseconds.

    python -m segmint.runtime.engines.compile_worker < (name, source, folder, argument types, memory limit), pickled
"""

from __future__ import annotations

import os
import pickle
import resource
import subprocess
import sys
from pathlib import Path

# Bytes of address space for one compile: Python with segmint and Numba takes about 0.5 GiB, compiling a kernel
# within the budget (kernel_batches.py) about 0.1 GiB more (measured here); a batch kernel of 1,000 segments passed 6.
COMPILE_MEMORY = 3 * 2**30
COMPILE_SECONDS = 600  # a compile still running after this is stopped


def compile_elsewhere(name: str, source: str, folder: Path, signature: tuple) -> str:
    """Compile the kernel module ``name`` (``source``) for ``signature`` in a child process, into the disk cache in
    ``folder``: "compiled", "failed" (over its memory or time limit: do not try again) or "unavailable" (no child
    could run it, say an application embedding Python without a ``python`` executable: compile it here)."""
    payload = pickle.dumps((name, source, str(folder), signature, COMPILE_MEMORY))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # finds segmint as we did
    try:
        run = subprocess.run(
            [sys.executable, "-m", "segmint.runtime.engines.compile_worker"],
            input=payload,
            capture_output=True,
            env=env,
            timeout=COMPILE_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return "failed"
    except (OSError, subprocess.SubprocessError):
        return "unavailable"
    if run.returncode == 0:
        return "compiled"
    over_limit = run.returncode < 0 or b"MemoryError" in run.stderr  # killed, or refused memory
    return "failed" if over_limit else "unavailable"


def main() -> int:
    name, source, folder, signature, memory = pickle.load(sys.stdin.buffer)
    # Set here, not by the parent between fork and exec (unsafe in a process with threads); segmint's imports
    # come before, and are small beside a compile.
    os.nice(10)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    from .kernel_cache import import_kernel

    import_kernel(name, source, Path(folder)).compile(signature)
    return 0


if __name__ == "__main__":
    sys.exit(main())
