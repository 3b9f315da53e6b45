"""Grapheme-to-phoneme transduction: the embedded stand-in for translation.

English text from the King James Bible (:mod:`scaling_core.data.kjv`) is cut into
short fragments at punctuation and transcribed to IPA with eSpeak NG
(:mod:`scaling_core.data.espeak`). The task maps a fragment's characters to its
phoneme symbols: a sequence transduction problem with the shape of translation
(variable lengths, reordering-free but context-dependent: "read" vs "read"), yet
far more deterministic, since eSpeak's rules are a function of the spelling.

The corpus is cached as gzipped JSON under ``cache_dir("g2p", key)``, keyed by the
settings; transcribing the whole Bible takes a few seconds.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import unicodedata
from collections import Counter
from typing import Callable, Iterable, Sequence

import pandas as pd

from scaling_core.data.bpe import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from scaling_core.data.espeak import text_to_phonemes
from scaling_core.data.kjv import load_kjv, split_by_chapter
from scaling_core.paths import cache_dir

SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
"""Special symbols, at ids :data:`PAD_ID`, :data:`UNK_ID`, :data:`BOS_ID`, :data:`EOS_ID`."""

_CLAUSE_BREAK = re.compile(r"[,;:.?!()]+")
_STRESS = "\u02c8\u02cc"  # primary and secondary stress marks


def ipa_symbols(ipa: str) -> list[str]:
    """Split an IPA string into phoneme symbols.

    A symbol is one letter together with the marks that modify it (combining
    diacritics and modifier letters such as the length mark ``ː``); stress marks
    and the space between words are symbols of their own. ``"ɡˈɑːd"`` gives
    ``['ɡ', 'ˈ', 'ɑː', 'd']``.
    """
    symbols: list[str] = []
    for char in ipa:
        modifies = unicodedata.combining(char) or (
            unicodedata.category(char) == "Lm" and char not in _STRESS
        )
        if modifies and symbols and symbols[-1] not in (" ",) + tuple(_STRESS):
            symbols[-1] += char
        else:
            symbols.append(char)
    return symbols


def characters(text: str) -> list[str]:
    """The characters of ``text``: the source-side symbols of grapheme-to-phoneme."""
    return list(text)


class SymbolTokenizer:
    """A closed vocabulary of symbols: ``encode(text) -> ids``, ``decode(ids) -> text``.

    ``split`` cuts a text into symbols (:func:`characters`, :func:`ipa_symbols`);
    decoding joins them back. Symbols outside the vocabulary encode to :data:`UNK_ID`.
    """

    def __init__(self, symbols: Sequence[str], split: Callable[[str], list[str]] = characters):
        self.symbols = list(SPECIALS) + [s for s in symbols if s not in SPECIALS]
        self.split = split
        self._ids = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def fit(cls, texts: Iterable[str], split: Callable[[str], list[str]] = characters,
            max_size: int | None = None) -> SymbolTokenizer:
        """The ``max_size`` (specials included) most frequent symbols of ``texts``, ties by symbol."""
        counts = Counter(symbol for text in texts for symbol in split(text))
        ranked = sorted(counts, key=lambda s: (-counts[s], s))
        keep = None if max_size is None else max(0, max_size - len(SPECIALS))
        return cls(ranked[:keep], split)

    @property
    def vocab_size(self) -> int:
        return len(self.symbols)

    def encode(self, text: str | Sequence[str]):
        """Symbol ids of one text (list of int) or of each text in a list."""
        if not isinstance(text, str):
            return [self.encode(t) for t in text]
        return [self._ids.get(s, UNK_ID) for s in self.split(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Joined symbols of ``ids``; padding and sentence markers are skipped."""
        skip = (PAD_ID, BOS_ID, EOS_ID)
        return "".join(self.symbols[int(i)] for i in ids if int(i) not in skip)


def kjv_fragments(texts: Iterable[str], max_words: int = 8) -> list[str]:
    """Cut verses at punctuation into fragments of at most ``max_words`` words.

    Clauses longer than ``max_words`` are cut into consecutive runs of ``max_words``
    words; punctuation is dropped, letters, apostrophes and case are kept.
    """
    if not isinstance(max_words, int) or max_words < 1:
        raise ValueError(f"parameter 'max_words' got {max_words!r}; allowed: an integer >= 1")
    fragments = []
    for text in texts:
        for clause in _CLAUSE_BREAK.split(text):
            words = clause.split()
            fragments += [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)]
    return fragments


def load_g2p(max_words: int = 8, val_fraction: float = 0.05, seed: int = 0,
             voice: str = "en-us", max_verses: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """King James Bible fragments and their IPA transcriptions, split by chapter.

    Parameters
    ----------
    max_words : int
        Longest fragment, in words (see :func:`kjv_fragments`).
    val_fraction : float
        Fraction of the Bible's 1,189 chapters held out for validation.
    seed : int
        Seed of the chapter split.
    voice : str
        eSpeak NG voice whose pronunciation rules transcribe the text.
    max_verses : int, optional
        Use only the first ``max_verses`` verses (canonical order) of the 31,103:
        the corpus size, which sets the one-off transcription cost (about 3,000
        verses per second on one core).

    Returns
    -------
    train, val : pandas.DataFrame
        Columns ``source`` (English fragment), ``target`` (IPA) and ``citation``
        (the verse), in canonical order; fragments with an empty transcription are
        dropped. With the defaults: 147,338 training pairs (about 3.7M phoneme
        symbols) and 7,163 validation pairs.
    """
    if max_verses is not None and (not isinstance(max_verses, int) or max_verses < 2):
        raise ValueError(f"parameter 'max_verses' got {max_verses!r}; allowed: None or an integer >= 2")
    verses = load_kjv().iloc[:max_verses]
    table = _transcribed(verses, max_words, voice)
    table = table[table["target"].str.strip() != ""]  # fragments eSpeak reads as silence
    _, val_verses = split_by_chapter(verses, val_fraction, seed)
    held_out = table["citation"].isin(val_verses["citation"])
    return table[~held_out].reset_index(drop=True), table[held_out].reset_index(drop=True)


def _transcribed(verses: pd.DataFrame, max_words: int, voice: str) -> pd.DataFrame:
    """Every fragment of every verse with its transcription, from the cache when present."""
    key = hashlib.sha256(f"kjv|{max_words}|{voice}|{len(verses)}".encode()).hexdigest()[:16]
    path = cache_dir("g2p", key) / "fragments.json.gz"
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return pd.DataFrame(json.load(handle))
    rows = {"source": [], "target": [], "citation": []}
    for citation, text in zip(verses["citation"], verses["text"]):
        for fragment in kjv_fragments([text], max_words):
            rows["source"].append(fragment)
            rows["target"].append(text_to_phonemes(fragment, voice=voice))
            rows["citation"].append(citation)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as handle:
        json.dump(rows, handle, ensure_ascii=False)
    tmp.replace(path)
    return pd.DataFrame(rows)
