"""The one interface every chapter module keeps, and where chapter parameters are checked.

Each ``scaling_core/experiments/<chapter>.py`` exposes the same names:

``SCALES``
    ``{profile: settings}`` for every profile (shard span, model grid, trainer ...).
``DATASETS``
    The datasets the chapter accepts; the default is ``SCALES[profile]["dataset"]`` when a
    profile names one, else ``DATASETS[0]``.
``TABLE1_ROWS``
    The rows of the paper's Table 1 it reproduces (empty for a chapter without sweeps); a
    row's ``model`` and ``family`` may be ``{profile: value}`` where the profiles train
    different models (:func:`profile_row`).
``sweep_specs(config) -> list[SweepSpec]``
    The sweeps the chapter runs first (a later sweep may depend on their results, e.g.
    the word-LM re-tuning sweep; ``run`` runs those too).
``store(config) -> Path | None``
    The chapter's results store, ``results/<chapter>/<dataset>-<profile>.sqlite``
    (``None`` for a chapter that trains nothing).
``run(config)``
    Run, resume or only read every sweep of the chapter and return what it reads.

Optionally, ``later_sweep_specs(config, store)`` gives the sweeps that follow from results
already in the (open) store, e.g. the word-LM re-tuning of the search's winners.

:func:`configure` is the one place where ``profile``, ``seed``, ``device``, ``dataset``
and ``data_dir`` are validated (by :func:`scaling_core.profiles.resolve`); the notebooks,
the ``chapter``, ``sweep``, ``cost`` and ``pending`` commands all go through it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from scaling_core.profiles import ChapterConfig, check_choice, resolve

CHAPTERS = ("counting", "methodology", "nmt", "word_lm", "char_lm", "image", "speech", "implications")
"""Every chapter, in the book's order."""

SWEEP_CHAPTERS = ("methodology", "nmt", "word_lm", "char_lm", "image", "speech")
"""The chapters that train sweeps (the others compute or read)."""

CHAPTER_PARAMETERS = ("profile", "seed", "device", "dataset", "data_dir")
"""The papermill parameters every chapter declares, checked by :func:`configure`."""

CONTRACT = ("SCALES", "DATASETS", "TABLE1_ROWS", "sweep_specs", "store", "run")
"""The names every chapter module exposes."""


def chapter_module(chapter: str) -> ModuleType:
    """The experiment module of ``chapter`` (one line naming the allowed chapters otherwise)."""
    check_choice("chapter", chapter, CHAPTERS)
    return importlib.import_module(f"scaling_core.experiments.{chapter}")


def default_dataset(module: ModuleType, profile: str) -> str:
    """The dataset a chapter uses at ``profile`` when none is given."""
    check_choice("profile", profile, tuple(module.SCALES))
    return module.SCALES[profile].get("dataset") or module.DATASETS[0]


PER_PROFILE_KEYS = ("model", "family")
"""``TABLE1_ROWS`` keys whose value may be a ``{profile: value}`` mapping."""


def profile_row(row: dict, profile: str) -> dict:
    """``row`` of a ``TABLE1_ROWS`` with its per-profile ``model`` and ``family`` read for ``profile``.

    >>> profile_row({"model": {"laptop": "LSTM", "paper": "RHN"}, "family": "x"}, "paper")
    {'model': 'RHN', 'family': 'x'}
    """
    return {key: value[profile] if key in PER_PROFILE_KEYS and isinstance(value, dict) else value
            for key, value in row.items()}


def configure(
    chapter: str,
    profile: str = "laptop",
    seed: int = 0,
    device: str = "cpu",
    dataset: str | None = None,
    data_dir: str | os.PathLike | None = None,
) -> ChapterConfig:
    """Validate a chapter's parameters once and return its configuration.

    Parameters
    ----------
    chapter : str
        One of :data:`CHAPTERS`.
    profile, seed, device, dataset, data_dir
        The papermill parameters; ``dataset=None`` takes the chapter's default for the profile.

    Returns
    -------
    ChapterConfig

    Raises
    ------
    scaling_core.profiles.ParameterError
        One line naming the bad parameter and its allowed values.
    """
    module = chapter_module(chapter)
    if dataset in (None, "") and profile in module.SCALES:
        dataset = default_dataset(module, profile)
    return resolve(chapter, module.SCALES, profile=profile, seed=seed, device=device, dataset=dataset,
                   datasets=tuple(module.DATASETS), data_dir=data_dir)


def chapter_workers(config: ChapterConfig) -> int:
    """The trials the chapter trains at once on a CPU at its profile: its settings' ``workers``
    (read through the chapter's ``settings(config)`` where those are per dataset), else 1."""
    workers = config.settings.get("workers")
    if workers is None:
        settings = getattr(chapter_module(config.chapter), "settings", None)
        workers = settings(config).get("workers") if callable(settings) else None
    return int(workers or 1)


def missing_names(module: ModuleType) -> list[str]:
    """The contract's names ``module`` lacks (empty when it keeps the contract)."""
    return [name for name in CONTRACT if not hasattr(module, name)]


def all_sweep_specs(config: ChapterConfig, store) -> list:
    """Every sweep of the chapter: ``sweep_specs`` and those its optional ``later_sweep_specs`` derives from the store."""
    module = chapter_module(config.chapter)
    later = getattr(module, "later_sweep_specs", None)
    return list(module.sweep_specs(config)) + (later(config, store) if later else [])


def code_note(config: ChapterConfig) -> str:
    """One Markdown sentence: whether the chapter's stored sweeps are complete and made by today's code.

    Reads the store only (never trains). For stale sweeps it names the stored code
    version(s), today's, the files that differ and the command that retrains them.
    """
    from scaling_core.sweep.records import completed_record, staleness
    from scaling_core.sweep.store import Store

    path = chapter_module(config.chapter).store(config)
    if path is None or not path.exists():
        return ""
    with Store(path, readonly=True) as store:  # a writer would rewrite a committed file's header
        specs = all_sweep_specs(config, store)
        incomplete = [spec.name for spec in specs if completed_record(store, spec) is None]
        stale = [s for s in (staleness(store, spec) for spec in specs) if s is not None]
    notes = []
    if incomplete:
        notes.append(f"Not complete in the store: {', '.join(incomplete)}.")
    if stale:
        versions = sorted({v for s in stale for v in s.stored.split(", ")})
        files = sorted({f for s in stale for f in s.changed})
        commits = sorted({s.commit[:10] for s in stale if s.commit})
        command = (f"scaling-core sweep run --experiment {config.chapter} --profile {config.profile} "
                   f"--dataset {config.dataset} --rerun-stale")
        notes.append(
            f"Made by earlier code: {len(stale)} of the chapter's {len(specs)} sweeps (code version "
            f"{', '.join(versions)}{', commit ' + ', '.join(commits) if commits else ''}; today's is "
            f"{stale[0].current}). Files that differ: "
            f"{', '.join(f'`{f}`' for f in files) if files else 'not recorded for that version'}. "
            f"The results are read as stored; `{command}` retrains them with today's code.")
    return " ".join(notes) or "Every stored trial of this run was made by today's code."


def baselines(config: ChapterConfig, sweep: str | None = None):
    """The shard baselines of one of the chapter's sweeps (its first by default) from its store.

    Read from the store's ``baselines`` table; computed there (building the task) when a
    finished sweep has none yet (see :mod:`scaling_core.sweep.shard_baselines`). An empty
    frame for a chapter without a store or a sweep not in it.
    """
    import pandas as pd

    from scaling_core.sweep.shard_baselines import COLUMNS, shard_baselines

    module = chapter_module(config.chapter)
    path = module.store(config)
    specs = [s for s in module.sweep_specs(config) if sweep is None or s.name == sweep]
    if path is None or not path.exists() or not specs:
        return pd.DataFrame(columns=COLUMNS)
    return shard_baselines(specs[0], path)
