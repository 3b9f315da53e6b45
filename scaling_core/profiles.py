"""Scale profiles and parameter validation shared by every chapter.

A chapter is executed with a handful of papermill parameters (``profile``, ``seed``,
``device``, ``dataset``, ``data_dir``). :func:`resolve` checks them once and returns
the chapter's settings for that profile; a bad value stops the chapter with one line
that names the parameter and the allowed values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from scaling_core.validation import (  # noqa: F401 (re-exported for chapters)
    DATA_DIR_ENV, ParameterError, check_choice, check_device, check_seed, default_data_dir,
)

PROFILES = ("smoke", "laptop", "paper")
"""``smoke``: seconds per chapter, for CI. ``laptop``: minutes on a CPU. ``paper``: one GPU."""


@dataclass(frozen=True)
class ChapterConfig:
    """The resolved parameters of one chapter run.

    Attributes
    ----------
    chapter : str
        Chapter key, e.g. ``"counting"``.
    profile : str
        One of :data:`PROFILES`.
    seed : int
        Seed for every random choice the chapter makes.
    device : str
        Torch device for training.
    dataset : str
        Dataset name, one of the chapter's allowed datasets.
    data_dir : Path or None
        Folder of real datasets, when one is given.
    settings : dict
        The chapter's settings for this profile (shard span, model grid, ...).
    """

    chapter: str
    profile: str
    seed: int
    device: str
    dataset: str
    data_dir: Path | None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.settings[key]


def resolve(
    chapter: str,
    scales: Mapping[str, Mapping[str, Any]],
    *,
    profile: str = "laptop",
    seed: int = 0,
    device: str = "cpu",
    dataset: str | None = None,
    datasets: tuple[str, ...] = ("default",),
    data_dir: str | os.PathLike | None = None,
) -> ChapterConfig:
    """Validate a chapter's parameters and pick its settings for ``profile``.

    Parameters
    ----------
    chapter : str
        Chapter key, used in messages and store names.
    scales : mapping
        ``{profile: settings}`` for every name in :data:`PROFILES`.
    profile, seed, device, dataset, data_dir
        The papermill parameters; ``dataset=None`` takes ``datasets[0]``.
    datasets : tuple of str
        The datasets this chapter accepts.

    Returns
    -------
    ChapterConfig

    Raises
    ------
    ParameterError
        One line naming the bad parameter and its allowed values.
    """
    check_choice("profile", profile, PROFILES)
    missing = [p for p in PROFILES if p not in scales]
    if missing:
        raise ValueError(f"chapter {chapter!r} defines no settings for profiles {missing}")
    dataset = datasets[0] if dataset in (None, "") else dataset
    check_choice("dataset", dataset, datasets)
    return ChapterConfig(
        chapter=chapter,
        profile=profile,
        seed=check_seed(seed),
        device=check_device(device),
        dataset=dataset,
        data_dir=default_data_dir(data_dir),
        settings=dict(scales[profile]),
    )
