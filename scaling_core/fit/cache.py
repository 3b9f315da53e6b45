"""A disk cache for deterministic fitting results, keyed by a hash of everything they depend on.

A bootstrap of 1,000 resamples or a scoreboard of every estimator is a pure function of
its inputs (the data, the settings, the seed), of the fitting code and of the numerical
libraries. :func:`cached` keys a result by the SHA-256 of all of them:

- the inputs, as given (arrays by dtype, shape and bytes, so a store whose trials changed
  gives other data and another key);
- :func:`code_version`: the source of every module of :mod:`scaling_core.fit` and of the
  caller's modules, byte for byte (any edit misses the cache);
- the versions of Python, NumPy, SciPy and pandas.

A hit returns exactly what the computation returned when it was stored (a pickle), so a
cached book shows the same digits as a fresh one. Entries live in
``<cache_dir>/fits/<kind>/<key>.pickle`` (:func:`scaling_core.paths.cache_dir`), are
written atomically (two kernels computing one result write the same bytes), and an entry
that cannot be read is computed again. ``SCALING_CORE_FIT_CACHE=off`` turns the cache off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from scaling_core.paths import cache_dir

SWITCH_ENV = "SCALING_CORE_FIT_CACHE"
"""Set to ``off`` (or ``0``) to compute every result afresh and store nothing."""

FIT_PACKAGE = Path(__file__).resolve().parent


def enabled() -> bool:
    """Whether :func:`cached` reads and writes the disk (``$SCALING_CORE_FIT_CACHE`` is not ``off``)."""
    return os.environ.get(SWITCH_ENV, "").strip().lower() not in ("off", "0", "false", "no")


@functools.lru_cache(maxsize=None)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def code_version(*modules: str) -> str:
    """Hash of the sources of :mod:`scaling_core.fit` and of ``modules`` (dotted names), and the library versions."""
    files = sorted(FIT_PACKAGE.glob("*.py"))
    for name in modules:
        module = sys.modules.get(name)
        source = getattr(module, "__file__", None)
        if source is None:
            raise ValueError(f"parameter 'modules' got {name!r}; allowed: an imported module with a source file")
        files.append(Path(source).resolve())
    digest = hashlib.sha256()
    for path in dict.fromkeys(files):
        stat = path.stat()
        digest.update(f"{path.name}:{_file_digest(str(path), stat.st_mtime_ns, stat.st_size)}\n".encode())
    import pandas
    import scipy

    digest.update(f"python {platform.python_version()} numpy {np.__version__} scipy {scipy.__version__} "
                  f"pandas {pandas.__version__}".encode())
    return digest.hexdigest()


def _feed(digest, value: Any) -> None:
    """Add ``value`` to ``digest`` unambiguously (arrays by dtype, shape and bytes)."""
    if isinstance(value, np.ndarray) or hasattr(value, "to_numpy"):
        array = np.ascontiguousarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
        if array.dtype == object:
            digest.update(b"O" + json.dumps(array.tolist(), default=repr).encode())
        else:
            digest.update(f"A{array.dtype.str}{array.shape}".encode() + array.tobytes())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"L{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, (np.floating, float)):
        digest.update(b"F" + float(value).hex().encode())
    elif value is None or isinstance(value, (bool, int, str, np.integer, np.bool_)):
        digest.update(f"S{type(value).__name__}:{value!r}".encode())
    else:
        raise TypeError(f"cannot key a cache entry by a {type(value).__name__}")
    digest.update(b";")


def key(kind: str, inputs: Any, modules: tuple[str, ...] = ()) -> str:
    """The cache key of ``inputs`` for results of ``kind``: SHA-256 of them and of :func:`code_version`."""
    digest = hashlib.sha256(f"{kind}\n{code_version(*modules)}\n".encode())
    _feed(digest, inputs)
    return digest.hexdigest()


def entry(kind: str, inputs: Any, modules: tuple[str, ...] = ()) -> Path:
    """The file that holds (or would hold) the result of ``kind`` for ``inputs``."""
    return cache_dir("fits", kind) / f"{key(kind, inputs, modules)}.pickle"


def cached(kind: str, inputs: Any, compute: Callable[[], Any], modules: tuple[str, ...] = ()) -> Any:
    """``compute()``, or the result stored for the same ``kind``, ``inputs`` and code.

    Parameters
    ----------
    kind : str
        A name for the computation (a folder of the cache).
    inputs : nested dicts, lists and tuples of arrays, frames and scalars
        Everything the result depends on besides the code.
    compute : callable
        Computes the result (deterministically); it must pickle. Inputs that cannot be
        keyed (an object of another type, a module without a source file) are computed
        without the cache.
    modules : tuple of str
        Dotted names of the modules outside :mod:`scaling_core.fit` whose code the result
        depends on (e.g. the caller's).
    """
    if not enabled():
        return compute()
    try:
        path = entry(kind, inputs, modules)
    except (TypeError, ValueError, OSError):  # inputs that cannot be keyed, or no cache folder: no caching
        return compute()
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except Exception:  # absent, or a truncated or foreign file: computed again and replaced
        pass
    value = compute()
    temporary = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".", suffix=".tmp", delete=False) as handle:
            temporary = Path(handle.name)
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except OSError:  # a read-only or full cache only costs the next run the time
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    return value
