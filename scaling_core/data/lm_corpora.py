"""Training sentences and validation sentences V for each language-model dataset.

A corpus here is a pair of sentence lists, ``train`` and ``valid``; V is always
disjoint from training text:

* ``kjv``: King James verses; whole chapters held out (:func:`split_by_chapter`),
  then the held-out chapters put in a seeded random order so that a capped V is
  a fair sample of the Bible rather than its first books.
* ``tinyshakespeare``: lines; the contiguous last ``val_fraction`` of the play
  text is V (:func:`split_tail`).
* ``wikitext-2`` / ``wikitext-103``: the official ``train`` and ``valid`` splits.
* ``billion-word``: the training folder and the first held-out file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scaling_core.data.kjv import load_kjv, split_by_chapter
from scaling_core.data.text import load_billion_word, load_tinyshakespeare, load_wikitext, split_tail
from scaling_core.validation import ParameterError, check_choice, default_data_dir

WORD_DATASETS = ("kjv", "wikitext-2", "wikitext-103", "billion-word")
CHAR_DATASETS = ("kjv", "tinyshakespeare")


@dataclass(frozen=True)
class SentenceCorpus:
    """Raw sentences of one dataset, split into training text and V."""

    name: str
    train: list[str]
    valid: list[str]


def kjv_corpus(val_fraction: float, seed: int) -> SentenceCorpus:
    """Verses of the King James Bible, whole chapters held out, V chapters in seeded order."""
    train_df, val_df = split_by_chapter(load_kjv(), val_fraction, seed)
    return SentenceCorpus("kjv", list(train_df["text"]), list(_shuffle_chapters(val_df, seed)["text"]))


def _shuffle_chapters(verses: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Reorder whole chapters at random (seeded), keeping verse order inside each chapter."""
    chapter = verses["book"] + " " + verses["chapter"].astype(str)
    names = chapter.unique()
    rank = dict(zip(names, np.random.default_rng(seed).permutation(len(names))))
    return verses.iloc[np.argsort(chapter.map(rank).to_numpy(), kind="stable")]


def load_sentence_corpus(
    dataset: str,
    data_dir: str | Path | None = None,
    seed: int = 0,
    val_fraction: float = 0.05,
    sha256: str | None = None,
    max_train_sentences: int | None = None,
) -> SentenceCorpus:
    """The sentences of ``dataset`` (one of :data:`WORD_DATASETS` or :data:`CHAR_DATASETS`).

    ``seed`` and ``val_fraction`` matter where this project makes the split (KJV,
    Tiny Shakespeare); ``sha256`` is the WikiText archive checksum for a download.
    """
    check_choice("dataset", dataset, dict.fromkeys(WORD_DATASETS + CHAR_DATASETS))
    if dataset == "kjv":
        return kjv_corpus(val_fraction, seed)
    if dataset == "tinyshakespeare":
        return SentenceCorpus(dataset, *split_tail(load_tinyshakespeare(data_dir), val_fraction))
    if dataset == "billion-word":
        splits = load_billion_word(_required_dir(data_dir), max_train_sentences)
    else:
        splits = load_wikitext(dataset, data_dir=data_dir, sha256=sha256)
    return SentenceCorpus(dataset, splits["train"][:max_train_sentences], splits["valid"])


def _required_dir(data_dir: str | Path | None) -> Path:
    root = default_data_dir(data_dir)
    if root is None:
        raise ParameterError("data_dir", data_dir, "the extracted 1-billion-word benchmark folder")
    return root
