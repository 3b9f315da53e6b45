"""Trial keys: what makes two trials the same trial.

A trial is keyed by the SHA-256 of its resolved configuration, the code version
and the task's data fingerprint, so a changed config, a changed training code
path or changed data is a new trial rather than a stale cache hit.

* **Configuration.** Canonical JSON (:func:`canonical`): keys sorted, an integral
  float written as an integer (a grid size ``8`` and ``8.0`` are one trial), and no
  machine path: a task's ``data_dir`` never enters a key, the data's content does
  (the task's ``fingerprint``, a checksum of what was loaded).
* **Code version.** A hash of the modules that can change a result: the trainer,
  the trial worker and everything inside ``scaling_core`` they and the task's module
  import (found statically, by walking their import statements). Each file is hashed
  as its syntax tree with docstrings removed (:func:`source_hash`), so editing a
  comment, a docstring or the layout of a line keeps every stored trial, while an
  edit to a model or the trainer makes new ones. A chart or chapter edit is outside
  the closure. The git commit is stored beside it for the record, but is not part of
  the key (it changes with unrelated edits).

The same hashes can be computed for the code of an earlier commit
(:func:`code_files` with ``commit=``), which is how a store made by earlier code is
reported as stale with the files that differ.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import subprocess
from pathlib import Path
from typing import Any, Callable

ENGINE_MODULES = ("scaling_core.sweep.trainer", "scaling_core.sweep.worker")
"""Modules whose code runs in every trial."""

PATH_ARGUMENTS = frozenset({"data_dir"})
"""Task arguments that say where data lies on one machine: never part of a key."""

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
"""The folder holding the ``scaling_core`` package (the repository root in a checkout)."""


def canonical(value: Any) -> Any:
    """``value`` with integral floats as integers, tuples as lists and path arguments dropped.

    >>> canonical({"size": 8.0, "task": {"kwargs": {"data_dir": "/data", "n": 2}}})
    {'size': 8, 'task': {'kwargs': {'n': 2}}}
    """
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items() if k not in PATH_ARGUMENTS}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    return value


def trial_key(config: dict[str, Any], code_version: str, fingerprint: str) -> str:
    """SHA-256 hex digest of the canonical JSON of ``config``, the code version and data.

    .. math:: \\mathrm{key} = \\mathrm{SHA256}(\\mathrm{json}(\\mathrm{canonical}(c), v_{code}, f_{data}))
    """
    payload = json.dumps(
        {"config": canonical(config), "code": code_version, "data": fingerprint}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def config_key(config: dict[str, Any], fingerprint: str) -> str:
    """SHA-256 of the canonical configuration and data without the code version.

    Two trials with one ``config_key`` are the same experiment run by different code: a
    sweep resumed after a code change finds its finished trials by it (and reports them as
    stale) instead of training them again, unless asked to rerun stale trials.
    """
    payload = json.dumps({"config": canonical(config), "data": fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def trial_seed(key: str) -> int:
    """A 31-bit seed derived from a trial key (seeds torch and numpy in the trial)."""
    return int(key[:8], 16) & 0x7FFFFFFF


def source_hash(text: str) -> str:
    """Hash of a Python source's syntax tree without docstrings (comments and layout never count).

    Parameters
    ----------
    text : str
        Python source code.

    Returns
    -------
    str
        16 hex digits.
    """
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def code_files(*module_names: str, commit: str | None = None) -> dict[str, str]:
    """``{path: source_hash}`` for the engine's and the modules' ``scaling_core`` import closure.

    Parameters
    ----------
    *module_names : str
        Dotted module names, e.g. ``"scaling_core.tasks.mnist1d"``.
    commit : str, optional
        Read the sources of this git commit instead of the working tree.

    Returns
    -------
    dict
        Repository-relative POSIX paths to :func:`source_hash` values, sorted by path.
    """
    read = _working_tree_reader() if commit is None else _commit_reader(commit)
    files: dict[str, str] = {}
    for name in (*ENGINE_MODULES, *module_names):
        files.update(_closure(name, read))
    return dict(sorted(files.items()))


def code_version(*module_names: str, commit: str | None = None) -> str:
    """Short hash of :func:`code_files`: equal whenever no result-changing code differs.

    .. math:: v = \\mathrm{SHA256}(\\mathrm{json}(\\{path: h_{AST}(path)\\}))

    Returns
    -------
    str
        16 hex digits.
    """
    return files_version(code_files(*module_names, commit=commit))


def files_version(files: dict[str, str]) -> str:
    """The code version of a ``{path: source_hash}`` mapping."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


def source_files(*module_names: str) -> list[Path]:
    """The files :func:`code_version` hashes, as paths in the working tree."""
    return [PACKAGE_ROOT / path for path in code_files(*module_names)]


Reader = Callable[[str], "str | None"]  # repository-relative path -> source text, None if absent


def _working_tree_reader() -> Reader:
    @functools.lru_cache(maxsize=None)
    def read(path: str) -> str | None:
        file = PACKAGE_ROOT / path
        return file.read_text() if file.is_file() else None
    return _READERS.setdefault("", read)


def _commit_reader(commit: str) -> Reader:
    if commit in _READERS:
        return _READERS[commit]
    listed = _git("ls-tree", "-r", "--name-only", commit, "scaling_core")
    if listed is None:
        raise ValueError(f"parameter 'commit' got {commit!r}; allowed: a commit of this repository")
    present = set(listed.splitlines())

    @functools.lru_cache(maxsize=None)
    def read(path: str) -> str | None:
        return _git("show", f"{commit}:{path}") if path in present else None
    return _READERS.setdefault(commit, read)


_READERS: dict[str, Reader] = {}


def _module_path(name: str, read: Reader) -> str | None:
    """The repository-relative source file of a ``scaling_core`` module, or ``None``."""
    if not name.startswith("scaling_core"):
        return None
    base = name.replace(".", "/")
    for path in (f"{base}.py", f"{base}/__init__.py"):
        if read(path) is not None:
            return path
    return None


def _closure(module_name: str, read: Reader) -> dict[str, str]:
    """``{path: source_hash}`` of ``module_name`` and every ``scaling_core`` module it imports."""
    cached = _CLOSURES.get((id(read), module_name))
    if cached is not None:
        return cached
    seen: dict[str, str] = {}
    pending = [module_name]
    while pending:
        name = pending.pop()
        path = _module_path(name, read)
        if path is None or path in seen:
            continue
        text = read(path)
        seen[path] = source_hash(text)
        pending.extend(_imported_modules(text, name, path.endswith("__init__.py")))
    _CLOSURES[(id(read), module_name)] = seen
    return seen


_CLOSURES: dict[tuple[int, str], dict[str, str]] = {}


def _imported_modules(text: str, module_name: str, is_package: bool) -> list[str]:
    """Dotted names imported by the source (``from a import b`` gives ``a`` and ``a.b``)."""
    package = module_name if is_package else module_name.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def changed_files(stored: dict[str, str], current: dict[str, str]) -> list[str]:
    """Paths whose hash differs between two :func:`code_files` mappings (added or removed too)."""
    return sorted(p for p in set(stored) | set(current) if stored.get(p) != current.get(p))


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PACKAGE_ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def git_commit() -> str | None:
    """The repository's HEAD commit, or ``None`` outside a git checkout."""
    out = _git("rev-parse", "HEAD")
    return out.strip() or None if out else None
