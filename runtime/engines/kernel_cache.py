"""The disk cache of compiled kernels: where it lives, whether it can be written, and files that check themselves.

Numba's ``cache=True`` needs the source in a real file, so each kernel's module is written to the cache folder under a
name made of the hash of its source and imported from there; Numba keeps the compiled code beside it in
``__pycache__`` (an index ``.nbi`` and a data file ``.nbc`` per argument types). Every file is written beside and
moved into place (``os.replace``) after an fsync, so a reader sees a whole file or none, and two processes compiling
the same kernel at once each write complete, identical files.

A damaged file must cost a compile, never a wrong answer or an exception: the module is compared with the source it
should hold (and rewritten when it differs), and the index and data files carry a SHA-256 of their contents, checked
on every load (Numba's own files would unpickle truncated or flipped bytes into an EOFError, or into machine code
that was never compiled). A file that fails the check is a cache miss: the kernel is compiled again and the file
written anew.

The folder is ``$SEGMINT_KERNEL_CACHE`` or ``$SEGMINT_CACHE/kernels`` (default ``~/.cache/segmint/kernels``);
``SEGMINT_KERNEL_CACHE=off`` keeps kernels in memory only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
import tempfile
import threading
import types
import warnings
from collections.abc import Callable
from pathlib import Path

import numba
from numba.core.caching import FunctionCache, IndexDataCacheFile
from numba.core.dispatcher import Dispatcher

from ...dsl.errors import SegmintError, SegmintWarning
from ..durable import write_atomically

SETTING = "SEGMINT_KERNEL_CACHE"
_OFF = ("off", "0", "no", "false")
_DIGEST = hashlib.sha256().digest_size


class KernelCacheError(SegmintError):
    """The kernel cache folder cannot be used (``engine="compiled"``)."""


class KernelCacheWarning(SegmintWarning):
    """The kernel cache folder cannot be used, so kernels are kept in memory only (``engine="auto"``)."""


def cache_folder() -> Path | None:
    """The configured folder, or None when the cache is switched off."""
    return _folder(os.environ.get(SETTING), os.environ.get("SEGMINT_CACHE"))


@functools.lru_cache(maxsize=16)  # asked on every evaluation; paths cost more to build than a kernel run on few rows
def _folder(setting: str | None, segmint_cache: str | None) -> Path | None:
    if setting and setting.lower() in _OFF:
        return None
    if setting:
        return Path(setting)
    return Path(segmint_cache or Path.home() / ".cache" / "segmint") / "kernels"


def usable_folder(strict: bool) -> Path | None:
    """The cache folder to write kernels to, or None for memory only. A folder that cannot be written raises
    ``KernelCacheError`` when ``strict``; otherwise it warns (once per folder and process) and gives None."""
    folder = cache_folder()
    if folder is None:
        return None
    problem = _problem(folder)
    if problem is None:
        return folder
    message = (
        f"the kernel cache folder {folder} cannot be written ({problem}); set {SETTING} to a writable folder, "
        f"or {SETTING}=off to keep compiled kernels in memory only"
    )
    if strict:
        raise KernelCacheError(message)
    with _lock:
        first = folder not in _warned
        _warned.add(folder)
    if first:
        warnings.warn(KernelCacheWarning(message + "; kernels are kept in memory for now"), stacklevel=4)
    return None


_lock = threading.Lock()
_problems: dict[Path, str | None] = {}  # folder -> why it cannot be written (None: it can), probed once per process
_warned: set[Path] = set()


def _problem(folder: Path) -> str | None:
    with _lock:
        if folder in _problems:
            return _problems[folder]
    try:
        for place in (folder, folder / "__pycache__"):
            place.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=place).close()
        problem = None
    except OSError as error:
        problem = error.strerror or type(error).__name__
    with _lock:
        _problems[folder] = problem
    return problem


def import_kernel(name: str, source: str, folder: Path) -> Callable:
    """The ``kernel`` function of the generated module ``name`` holding ``source``, backed by its file in ``folder``
    (written, or rewritten when it holds anything else), its compiled code checked as described above.

    The module runs ``source`` itself, not what the file holds now, and no ``.pyc`` is written or read: a damaged
    byte-code file could not be told from a good one."""
    path = folder / f"{name}.py"
    if _read(path) != source.encode():
        write_atomically(path, source.encode())
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # before running it: Numba's cache finds the module by name in a new process
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    dispatcher = module.kernel
    dispatcher._cache = _CheckedCache(dispatcher.py_func)  # Numba made a plain FunctionCache at the decorator
    return dispatcher


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def sound(index: Path) -> bool:
    """Whether a kernel's cache index and every data file it names pass their checks (see the module docstring):
    what ``auto`` asks before it runs a cached kernel rather than compile it in the foreground."""
    overloads = _CheckedCacheFile.read_index(index)
    return bool(overloads) and all(
        _CheckedCacheFile.read_checked(index.parent / name) is not None for name in overloads.values()
    )


def check_caches_of(*modules: types.ModuleType) -> None:
    """Give every cached Numba function of ``modules`` (segmint's precompiled helpers: their cache files live next
    to the installed package, or in Numba's user cache folder) the checked cache files of the kernels, so that a
    damaged file of theirs is compiled again too. Call before their first use."""
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Dispatcher) and type(value._cache) is FunctionCache:
                value._cache = _CheckedCache(value.py_func)


class _CheckedCacheFile(IndexDataCacheFile):
    """Numba's index and data files, each with the SHA-256 of its payload in front; a file that fails the check,
    or does not unpickle, reads as absent."""

    def _load_index(self) -> dict:
        overloads = self.read_index(Path(self._index_path), self._source_stamp)
        return {} if overloads is None else overloads

    @classmethod
    def read_index(cls, path: Path, stamp: object = None) -> dict | None:
        """The index's entries (None when it is missing or damaged, {} when it is stale or another Numba's)."""
        payload = cls.read_checked(path)
        if payload is None:
            return None
        try:
            version, saved_stamp, overloads = pickle.loads(payload)
        except Exception:  # checked bytes that do not unpickle: written by something else
            return None
        if version != numba.__version__ or (stamp is not None and saved_stamp != stamp):
            return {}
        return overloads

    def _save_index(self, overloads: dict) -> None:
        self._write_checked(Path(self._index_path), pickle.dumps((self._version, self._source_stamp, overloads), -1))

    def _load_data(self, name: str):
        payload = self.read_checked(Path(self._data_path(name)))
        if payload is None:
            raise OSError(f"damaged kernel cache file {name}")  # Numba's load() reads OSError as "not cached"
        try:
            return pickle.loads(payload)
        except Exception as error:
            raise OSError(f"damaged kernel cache file {name}") from error

    def _save_data(self, name: str, data) -> None:
        self._write_checked(Path(self._data_path(name)), self._dump(data))

    @staticmethod
    def read_checked(path: Path) -> bytes | None:
        data = _read(path)
        if data is None or len(data) < _DIGEST:
            return None
        digest, payload = data[:_DIGEST], data[_DIGEST:]
        return payload if hashlib.sha256(payload).digest() == digest else None

    @staticmethod
    def _write_checked(path: Path, payload: bytes) -> None:
        write_atomically(path, hashlib.sha256(payload).digest() + payload)


class _CheckedCache(FunctionCache):
    def __init__(self, py_func) -> None:
        super().__init__(py_func)
        self._cache_file = _CheckedCacheFile(
            self._cache_path, self._impl.filename_base, self._impl.locator.get_source_stamp()
        )

    def load_overload(self, sig, target_context):
        # An entry that passed its checks and still cannot be rebuilt (say, a folder copied from another machine)
        # is compiled again, like a missing one.
        with contextlib.suppress(Exception):
            return super().load_overload(sig, target_context)
        return None
