"""What the book holds: ``scaling-core list``.

One row per chapter: the datasets it takes (its default first), and for each profile whether
its results store exists and how many of its sweeps are complete there. Stores are only read
(never created), so listing is safe on a read-only checkout.
"""

from __future__ import annotations

import pandas as pd

from scaling_core.experiments.contract import CHAPTERS, chapter_module, configure, default_dataset
from scaling_core.profiles import PROFILES


def store_status(chapter: str, profile: str, dataset: str) -> str:
    """``"trains nothing"``, ``"no store"``, ``"complete"`` or ``"k of n sweeps complete"``."""
    from scaling_core.sweep.records import completed_record
    from scaling_core.sweep.store import Store, StoreError

    module = chapter_module(chapter)
    config = configure(chapter, profile=profile, dataset=dataset)
    specs = module.sweep_specs(config)
    if not specs:
        return "trains nothing"
    path = module.store(config)
    if path is None or not path.exists():
        return "no store"
    try:
        with Store(path, readonly=True) as store:
            complete = sum(completed_record(store, spec) is not None for spec in specs)
    except StoreError as error:
        return f"unreadable ({error})"
    return "complete" if complete == len(specs) else f"{complete} of {len(specs)} sweeps complete"


def catalog(profiles: tuple[str, ...] = PROFILES) -> pd.DataFrame:
    """One row per chapter: its datasets (default first) and its store's status at each profile (default dataset)."""
    rows = []
    for chapter in CHAPTERS:
        module = chapter_module(chapter)
        row = {"chapter": chapter, "datasets": ", ".join(module.DATASETS)}
        for profile in profiles:
            row[profile] = store_status(chapter, profile, default_dataset(module, profile))
        rows.append(row)
    return pd.DataFrame(rows)


def format_catalog(frame: pd.DataFrame) -> str:
    """The catalog as plain text for a terminal."""
    return frame.to_string(index=False)
