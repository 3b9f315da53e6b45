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

import numpy as np
import pandas as pd

from scaling_core.sweep.keys import changed_files, files_version
from scaling_core.sweep.spec import SweepSpec, spec_identity
from scaling_core.sweep.store import Store
from scaling_core.sweep.trainer import TrainerSettings


def completed_record(store: Store, spec: SweepSpec) -> dict[str, Any] | None:
    """The store's record of ``spec`` (``keys``, ``code``, ``files``) if this exact sweep completed there."""
    record = store.completed_record(spec.name)
    if record is None or spec_identity(record["spec"]) != spec.identity():
        return None
    return record


def sweep_trials(store: Store | str | Path, spec: SweepSpec, history: bool = False) -> pd.DataFrame:
    """The trials of completed sweep ``spec`` as recorded (those another sweep trained first included)."""
    opened = store if isinstance(store, Store) else Store(store, readonly=True)
    try:
        record = completed_record(opened, spec)
        if record is None:
            raise ValueError(f"sweep {spec.name!r} has not completed with this spec in {opened.path}")
        frame = opened.to_frame(spec.name, history=history)
    finally:
        if opened is not store:
            opened.close()
    frame = frame[frame["key"].isin(record["keys"])].reset_index(drop=True)
    return infer_stop_reasons(frame, spec.trainer)


def infer_stop_reasons(frame: pd.DataFrame, trainer: TrainerSettings) -> pd.DataFrame:
    """Fill ``stop_reason`` of finished trials stored before the trainer recorded it.

    The trainer of those trials had three ways to end a trial that finished: a step cap, an
    epoch cap and early stopping on V (a trial cut by a time budget was never ``done``).
    So a ``done`` trial without a reason that reached ``trainer.max_steps`` steps stopped
    at ``"max_steps"``, one that reached ``trainer.max_epochs`` passes at ``"max_epochs"``,
    and any other at ``"early_stop"``; a ``failed`` one at ``"error"``. ``improving``, which
    such trials did not record, stays unknown. The column ``stop_reason_inferred`` marks the
    rows filled here.
    """
    frame = frame.copy()
    if "stop_reason" not in frame.columns:
        frame["stop_reason"] = None
    missing = frame["stop_reason"].isna() & frame["status"].isin(["done", "failed"])
    frame["stop_reason_inferred"] = missing
    if not missing.any():
        return frame
    steps = pd.to_numeric(frame.get("steps"), errors="coerce")
    epochs = pd.to_numeric(frame.get("epochs"), errors="coerce")
    reason = np.where(steps >= trainer.max_steps, "max_steps",
                      np.where(epochs >= trainer.max_epochs - 1e-9, "max_epochs", "early_stop"))
    reason = np.where(frame["status"] == "failed", "error", reason)
    frame.loc[missing, "stop_reason"] = reason[missing.to_numpy()]
    return frame


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
