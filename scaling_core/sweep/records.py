"""What a store records of a completed sweep: its trials, and whether today's code would make them.

A completed sweep's record holds its spec's identity, its trial keys, the code version that
completed it and the git commit. Each trial keeps the code version that made it, and the
store keeps each version's files with their hashes, so :func:`staleness` can say which
files changed since.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scaling_core.sweep.keys import changed_files, files_version
from scaling_core.sweep.spec import SweepSpec, spec_identity
from scaling_core.sweep.store import Store


def completed_record(store: Store, spec: SweepSpec) -> dict[str, Any] | None:
    """The store's record of ``spec`` (``keys``, ``code``, ``files``) if this exact sweep completed there."""
    record = store.completed_record(spec.name)
    if record is None or spec_identity(record["spec"]) != spec.identity():
        return None
    return record


def sweep_trials(store: Store | str | Path, spec: SweepSpec, history: bool = False) -> pd.DataFrame:
    """The trials of completed sweep ``spec`` as recorded (those another sweep trained first included)."""
    opened = store if isinstance(store, Store) else Store(store)
    try:
        record = completed_record(opened, spec)
        if record is None:
            raise ValueError(f"sweep {spec.name!r} has not completed with this spec in {opened.path}")
        frame = opened.to_frame(spec.name, history=history)
    finally:
        if opened is not store:
            opened.close()
    return frame[frame["key"].isin(record["keys"])].reset_index(drop=True)


@dataclass(frozen=True)
class Staleness:
    """A completed sweep made by code that differs from today's.

    Attributes
    ----------
    sweep : str
    stored, current : str
        Code versions (see :func:`~scaling_core.sweep.keys.code_version`): those of the
        sweep's trials that differ from today's (comma-separated), and today's.
    changed : tuple of str
        Files whose hash differs (added or removed included); empty when a stored
        version's files were not recorded.
    commit : str or None
        The git commit the stale trials were made at, when they share one.
    """

    sweep: str
    stored: str
    current: str
    changed: tuple[str, ...]
    commit: str | None

    def __str__(self) -> str:
        files = ", ".join(self.changed) if self.changed else "not recorded"
        at = f" (commit {self.commit[:10]})" if self.commit else ""
        return (f"sweep {self.sweep!r} was made by code version {self.stored}{at}; today's is {self.current}; "
                f"files that differ: {files}")


def staleness(store: Store, spec: SweepSpec) -> Staleness | None:
    """How completed sweep ``spec``'s trials differ from today's code, or ``None`` if none does (or it is not complete)."""
    record = completed_record(store, spec)
    if record is None:
        return None
    files = spec.code_files()
    current = files_version(files)
    versions = sorted(set(store.trial_code_versions(record["keys"])) - {current})
    if not versions:
        return None
    changed: set[str] = set()
    for version in versions:
        stored_files = store.code_version_files(version)
        if stored_files is None:
            changed = set()
            break
        changed |= set(changed_files(stored_files, files))
    commits = store.trial_commits(record["keys"], versions)
    return Staleness(spec.name, ", ".join(versions), current, tuple(sorted(changed)),
                     commits[0] if len(commits) == 1 else None)
