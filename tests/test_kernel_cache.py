"""The disk cache of compiled kernels (runtime/engines/kernel_cache.py): a damaged file costs a compile, never a wrong
answer or an exception, in any new process; a folder that cannot be written is an error for ``compiled`` and a warning
for ``auto``; processes that compile at once, or die while writing, leave a cache that works."""

import json
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from data import CONTACTS, EVENTS, NOW
from storebuilder import build_store

import segmint
from segmint.runtime.engines.compiled import COMPILED, KernelCache
from segmint.runtime.engines.kernel_cache import KernelCacheError, KernelCacheWarning

RULE = "sum(bought.amount within 365d) > 500 and clicked"
EXPECTED = [1, 5]

# A fresh process evaluating RULE with each engine of argv in turn; prints {"answers": [[engine, ids], ...]}.
FRESH = textwrap.dedent(
    f"""
    import json, sys
    sys.path.insert(0, {str(Path(__file__).parent)!r})
    from data import CONTACTS, DEMO_SCHEMA, EVENTS, NOW
    from storebuilder import build_store
    import segmint
    schema = segmint.Schema.from_toml(DEMO_SCHEMA)
    store = build_store(schema, CONTACTS, EVENTS)
    segment = segmint.compile({RULE!r}, schema)
    answers = []
    for engine in sys.argv[1:]:
        result = segment.evaluate(store, now=NOW, engine=engine)
        answers.append([result.engine, result.ids().tolist()])
    print(json.dumps(answers))
    """
)


def fresh(cache: Path, *engines: str, wait: bool = True, numba_cache: Path | None = None) -> list | subprocess.Popen:
    """RULE's answers in a new process with ``cache`` as its kernel cache: [[engine that answered, ids], ...]."""
    env = {"SEGMINT_KERNEL_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    if numba_cache is not None:  # where Numba caches everything, segmint's precompiled helpers included
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    process = subprocess.Popen(
        [sys.executable, "-c", FRESH, *engines], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return answers(process) if wait else process


def answers(process: subprocess.Popen) -> list:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    """A kernel cache holding RULE's kernel, compiled by a new process."""
    cache = tmp_path_factory.mktemp("filled") / "kernels"
    assert fresh(cache, "compiled") == [["compiled", EXPECTED]]
    return cache


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def cache_file(cache: Path, suffix: str) -> Path:
    [path] = (cache / "__pycache__").glob(f"segmint_kernel_*{suffix}") if suffix != ".py" else cache.glob("*.py")
    return path


@pytest.mark.parametrize("suffix", [".nbi", ".nbc", ".py"])
@pytest.mark.parametrize(
    "damage", [truncate, flip, lambda path: path.write_bytes(b"")], ids=["truncated", "flipped", "emptied"]
)
def test_a_damaged_cache_file_is_compiled_again(filled, tmp_path, suffix, damage):
    cache = tmp_path / "kernels"
    shutil.copytree(filled, cache)
    damage(cache_file(cache, suffix))
    first = fresh(cache, "auto", "compiled")
    # auto does not run a damaged kernel: it answers with the vector engine while the kernel compiles again (a
    # damaged module alone leaves Numba's compiled code good: only the module is written again)
    assert first == [["vector" if suffix != ".py" else "compiled", EXPECTED], ["compiled", EXPECTED]]
    assert fresh(cache, "auto") == [["compiled", EXPECTED]], "the damaged file was not written again"


def test_damaged_cache_files_of_segmint_own_functions_are_compiled_again(tmp_path):
    """The same for the cache files of segmint's precompiled functions (the kernel library, the vector engine, loading):
    every index and data file truncated."""
    numba_cache = tmp_path / "numba"
    engines = ("compiled", "vector")
    assert fresh(tmp_path / "kernels", *engines, numba_cache=numba_cache) == [[e, EXPECTED] for e in engines]
    damaged = [p for p in numba_cache.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert any("library" in p.name for p in damaged) and any("vector" in p.name for p in damaged)
    for path in damaged:
        truncate(path)
    assert fresh(tmp_path / "kernels", *engines, numba_cache=numba_cache) == [[e, EXPECTED] for e in engines]


def test_processes_compiling_the_same_kernel_at_once_leave_a_sound_cache(tmp_path):
    cache = tmp_path / "kernels"
    racing = [fresh(cache, "compiled", wait=False) for _ in range(3)]
    assert [answers(process) for process in racing] == [[["compiled", EXPECTED]]] * 3
    assert fresh(cache, "auto") == [["compiled", EXPECTED]]
    assert not [p.name for p in cache.rglob("*") if "tmp" in p.name], "a temporary file was left behind"


def forget_kernels(monkeypatch) -> None:
    """As in a new process: only the disk cache knows the kernels."""
    monkeypatch.setattr(COMPILED, "kernels", KernelCache())


@pytest.fixture(scope="module")
def store(schema):
    return build_store(schema, CONTACTS, EVENTS)


def test_a_module_left_half_written_is_written_again(schema, store, tmp_path, monkeypatch):
    """What a writer killed half-way leaves (a cut file, its temporary beside it, bytes that are not UTF-8) is
    replaced by the kernel's source."""
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(tmp_path))
    segment = segmint.compile("bought brand = Apple and not opened within 7d", schema)
    expected = segment.evaluate(store, now=NOW, engine="reference").mask
    source = segment.kernel(store).source
    segment.evaluate(store, now=NOW, engine="compiled")
    [path] = tmp_path.glob("segmint_kernel_*.py")
    for leftover in (source[: len(source) // 3].encode(), b"\xff\xfe not python", b""):
        path.write_bytes(leftover)
        (tmp_path / f".{path.name}.k1ll3d.tmp").write_bytes(leftover)
        forget_kernels(monkeypatch)
        sys.modules.pop(path.stem, None)
        assert np.array_equal(segment.evaluate(store, now=NOW, engine="compiled").mask, expected)
        assert path.read_text() == source


@pytest.fixture
def unwritable(tmp_path, monkeypatch) -> Path:
    """A cache folder that cannot be created, even by root: its parent is a regular file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    folder = blocker / "kernels"
    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(folder))
    forget_kernels(monkeypatch)
    return folder


def test_compiled_refuses_a_cache_folder_it_cannot_write(schema, store, unwritable):
    segment = segmint.compile("opened > 1 within 60d and city = Kyiv", schema)
    for _ in range(2):  # also once the kernel is in memory
        with pytest.raises(KernelCacheError) as error:
            segment.evaluate(store, now=NOW, engine="compiled")
        assert str(unwritable) in str(error.value) and "SEGMINT_KERNEL_CACHE" in str(error.value)
        assert isinstance(error.value, segmint.SegmintError)


def test_auto_warns_once_and_keeps_kernels_in_memory(schema, store, unwritable):
    segment = segmint.compile("opened > 1 within 60d or city = Lviv", schema)
    expected = segment.evaluate(store, now=NOW, engine="reference").mask
    with pytest.warns(KernelCacheWarning, match="SEGMINT_KERNEL_CACHE") as caught:
        first = segment.evaluate(store, now=NOW)
    assert [str(unwritable) in str(w.message) for w in caught] == [True]
    assert first.engine == "vector" and np.array_equal(first.mask, expected)
    kernel = segment.kernel(store)
    deadline = time.monotonic() + 120
    while not COMPILED.kernels.ready(kernel) and time.monotonic() < deadline:
        time.sleep(0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        later = segment.evaluate(store, now=NOW)
    assert later.engine == "compiled" and np.array_equal(later.mask, expected)
    assert not unwritable.exists()
