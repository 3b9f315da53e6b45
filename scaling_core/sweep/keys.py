"""Trial keys: what makes two trials the same trial.

A trial is keyed by the SHA-256 of its resolved configuration, the code version
and the task's data fingerprint, so a changed config, a changed training code
path or changed data is a new trial rather than a stale cache hit.

The code version hashes the source of the modules that can change a result: the
trainer, the trial worker and everything inside ``scaling_core`` they and the
task's module import (found statically, by walking their import statements). A
chart or chapter edit therefore keeps stored trials valid, while an edit to a
model or the trainer makes new ones. The git commit is stored beside it for the
record, but it is not part of the key (it changes with unrelated edits).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import subprocess
from pathlib import Path
from typing import Any

ENGINE_MODULES = ("scaling_core.sweep.trainer", "scaling_core.sweep.worker")
"""Modules whose code runs in every trial."""


def trial_key(config: dict[str, Any], code_version: str, fingerprint: str) -> str:
    """SHA-256 hex digest of the canonical JSON of ``config``, the code version and data."""
    payload = json.dumps(
        {"config": config, "code": code_version, "data": fingerprint}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def trial_seed(key: str) -> int:
    """A 31-bit seed derived from a trial key (seeds torch and numpy in the trial)."""
    return int(key[:8], 16) & 0x7FFFFFFF


def code_version(*module_names: str) -> str:
    """Short hash of the source of ``module_names`` and their ``scaling_core`` imports.

    Parameters
    ----------
    *module_names : str
        Dotted module names, e.g. ``"scaling_core.tasks.mnist1d"``.

    Returns
    -------
    str
        16 hex digits; equal for equal source files.
    """
    digest = hashlib.sha256()
    for path in source_files(*module_names):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def source_files(*module_names: str) -> list[Path]:
    """The files :func:`code_version` hashes: the engine's and the modules' import closure."""
    files: set[Path] = set()
    for name in (*ENGINE_MODULES, *module_names):
        files |= _import_closure(name)
    return sorted(files)


@functools.lru_cache(maxsize=None)
def _import_closure(module_name: str) -> frozenset[Path]:
    """Source files of ``module_name`` and of every ``scaling_core`` module it imports."""
    seen: dict[str, Path] = {}
    pending = [module_name]
    while pending:
        name = pending.pop()
        path = _source_file(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        pending.extend(_imported_modules(path, name))
    return frozenset(seen.values())


def _source_file(module_name: str) -> Path | None:
    """The ``.py`` file of a module inside ``scaling_core``, or ``None``."""
    if not module_name.startswith("scaling_core"):
        return None
    try:
        spec = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:
        return None
    origin = spec.origin if spec else None
    return Path(origin) if origin and origin.endswith(".py") else None


def _imported_modules(path: Path, module_name: str) -> list[str]:
    """Dotted names imported by the file (``from a import b`` gives ``a`` and ``a.b``)."""
    package = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else node.module
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


@functools.lru_cache(maxsize=None)
def git_commit() -> str | None:
    """The repository's HEAD commit, or ``None`` outside a git checkout."""
    root = Path(__file__).resolve().parent.parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
