"""Text corpora and vocabularies for the word and character language models.

Every loader returns *sentences*: plain strings, one per training example. The
language-model tasks turn them into token ids with a :class:`WordVocabulary` or a
:class:`CharVocabulary`.

Sources:

* WikiText-2 / WikiText-103 (Merity et al. 2016), downloaded once from their
  canonical archive with a SHA-256 check (:func:`load_wikitext`), or read from a
  folder the user names.
* Billion-Word-style plain text, one tokenised sentence per line
  (:func:`load_text_lines`, :func:`load_billion_word`).
* Tiny Shakespeare (the char-rnn corpus), read from a data folder
  (:func:`load_tinyshakespeare`).
* The King James Bible ships with pip: :mod:`scaling_core.data.kjv`.
"""

from __future__ import annotations

import collections
import gzip
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable

import numpy as np

from scaling_core.data.integrity import DEFAULT_TIMEOUT, data_error, download, verify_file
from scaling_core.paths import cache_dir
from scaling_core.validation import ParameterError, check_choice, default_data_dir

EOS = "<eos>"
"""End-of-sentence token; continuous minibatching joins sentences with it."""
UNK = "<unk>"
"""Stands for every word (or character) outside the vocabulary."""
PAD = "<pad>"
"""Fills character batches up to their longest sequence; never predicted."""

_WORD_PATTERN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def word_tokenize(sentence: str) -> list[str]:
    """Split raw text into words and punctuation marks (``"Let there be light:"`` gives 5 tokens)."""
    return _WORD_PATTERN.findall(sentence)


def whitespace_tokenize(sentence: str) -> list[str]:
    """Split pre-tokenised text (WikiText, Billion Word) on whitespace."""
    return sentence.split()


@dataclass(frozen=True)
class WordVocabulary:
    """The most frequent training words plus :data:`EOS` and :data:`UNK`.

    Attributes
    ----------
    words : tuple of str
        Id-ordered symbols: ``words[0] == EOS``, ``words[1] == UNK``, then the
        kept words by decreasing training frequency (ties broken alphabetically).
    """

    words: tuple[str, ...]

    @classmethod
    def build(cls, sentences: Iterable[list[str]], size: int) -> "WordVocabulary":
        """Keep the ``size - 2`` most frequent words of the tokenised training ``sentences``."""
        if size < 3:
            raise ParameterError("vocab_size", size, "an integer >= 3")
        counts = collections.Counter(word for tokens in sentences for word in tokens)
        counts.pop(UNK, None)  # pre-tokenised corpora already mark rare words
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return cls((EOS, UNK) + tuple(word for word, _ in ranked[: size - 2]))

    def __len__(self) -> int:
        return len(self.words)

    @cached_property
    def index(self) -> dict[str, int]:
        """``{word: id}``."""
        return {word: i for i, word in enumerate(self.words)}

    def encode(self, tokens: list[str]) -> np.ndarray:
        """Ids of ``tokens`` followed by the :data:`EOS` id (0), unknown words as :data:`UNK` (1)."""
        index = self.index
        return np.array([index.get(word, 1) for word in tokens] + [0], dtype=np.int64)


@dataclass(frozen=True)
class CharVocabulary:
    """A fixed 98-symbol character vocabulary: the 95 printable ASCII characters,
    :data:`PAD` (id 0), :data:`EOS` (id 1) and :data:`UNK` (id 2).

    The paper's character models use a 98-symbol vocabulary; this one does not
    depend on the data, so every corpus and shard share it.
    """

    symbols: tuple[str, ...] = (PAD, EOS, UNK) + tuple(chr(c) for c in range(32, 127))

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def eos_id(self) -> int:
        return 1

    def encode(self, sentence: str, max_length: int) -> np.ndarray:
        """Ids of the characters of ``sentence`` then :data:`EOS`, cut to ``max_length`` symbols.

        A sentence of :math:`n` characters keeps :math:`\\min(n + 1, L)` symbols for
        :math:`L` = ``max_length``: a truncated sentence loses its :data:`EOS`.
        Characters outside printable ASCII (tabs included) become :data:`UNK`.
        """
        codes = np.frombuffer(sentence[:max_length].encode("utf-32-le"), dtype=np.uint32)
        ids = np.where((codes >= 32) & (codes < 127), codes.astype(np.int64) - 32 + 3, 2)
        return np.append(ids, self.eos_id)[:max_length]


# ----------------------------------------------------------------------------- plain text
def load_text_lines(path: str | Path, max_lines: int | None = None) -> list[str]:
    """Read one sentence per line from a file, a ``.gz`` file, or a folder of such files.

    Empty lines are skipped and surrounding whitespace stripped. A folder is read
    file by file in sorted name order (the Billion Word layout, ``news.en-000NN-of-00100``).

    Parameters
    ----------
    path : str or Path
        A text file or a folder of text files.
    max_lines : int, optional
        Stop after this many sentences.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no text file or folder at {path}")
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    lines: list[str] = []
    for file in files:
        verify_file(file)
        opener = gzip.open if file.suffix == ".gz" else open
        try:
            with opener(file, "rt", encoding="utf-8") as handle:
                lines.extend(line.strip() for line in handle if line.strip())
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise data_error(file, None, f"corrupt or truncated gzip file ({error})") from error
        except UnicodeDecodeError as error:
            raise data_error(file, None, f"not UTF-8 text ({error})") from error
        if max_lines is not None and len(lines) >= max_lines:
            return lines[:max_lines]
    return lines


BILLION_WORD_TRAIN = "training-monolingual.tokenized.shuffled"
BILLION_WORD_HELDOUT = "heldout-monolingual.tokenized.shuffled/news.en.heldout-00000-of-00050"


def load_billion_word(data_dir: str | Path, max_train_sentences: int | None = None) -> dict[str, list[str]]:
    """The One Billion Word benchmark (Chelba et al. 2013) from its extracted release folder.

    ``data_dir`` is the ``1-billion-word-language-modeling-benchmark-r13output``
    folder; training sentences come from ``training-monolingual.tokenized.shuffled/``
    and validation ones from the first held-out file, as is customary.

    Returns
    -------
    dict
        ``{"train": [...], "valid": [...]}`` tokenised sentences.
    """
    root = Path(data_dir)
    return {
        "train": load_text_lines(root / BILLION_WORD_TRAIN, max_train_sentences),
        "valid": load_text_lines(root / BILLION_WORD_HELDOUT),
    }


def load_tinyshakespeare(data_dir: str | Path | None = None) -> list[str]:
    """Tiny Shakespeare (the char-rnn corpus) as its non-empty lines, in order.

    Each line (a speaker's name or a line of verse) is one sentence. Reads
    ``<data_dir>/tinyshakespeare/input.txt``; ``data_dir`` defaults to
    ``$SCALING_CORE_DATA``.
    """
    root = default_data_dir(data_dir)
    if root is None:
        raise ParameterError("data_dir", data_dir, "a folder holding tinyshakespeare/input.txt")
    return load_text_lines(root / "tinyshakespeare" / "input.txt")


# ----------------------------------------------------------------------------- WikiText
WIKITEXT_URLS = {
    "wikitext-2": "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
    "wikitext-103": "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-103-v1.zip",
}
"""The canonical archives (Salesforce Research, Merity et al. 2016; now also served at
``https://wikitext.smerity.com/<name>-v1.zip``)."""

WIKITEXT_PUBLISHED_SHA256 = {
    "wikitext-2": "92675f1d63015c1c8b51f1656a52d5bdbc33aafa60cc47a218a66e7ee817488c",
    "wikitext-103": "242ba0f20b329cfdf1ccc61e9e9e5b59becf189db7f7a81cd2a0e2fc31539590",
}
"""SHA-256 of the archives as registered by the Julia ``CorpusLoaders.jl`` DataDeps for
the same URLs. They could not be verified here (no network), so :func:`load_wikitext`
does not assume them: the caller passes the checksum it trusts."""

WIKITEXT_SPLITS = {"train": "wiki.train.tokens", "valid": "wiki.valid.tokens", "test": "wiki.test.tokens"}


def load_wikitext(
    name: str = "wikitext-2",
    data_dir: str | Path | None = None,
    url: str | None = None,
    sha256: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, list[str]]:
    """WikiText-2 or WikiText-103 (tokenised ``v1`` release) as lists of non-empty lines.

    A folder ``<data_dir>/<name>/`` holding ``wiki.{train,valid,test}.tokens`` is read
    as is. Otherwise the zip archive at ``url`` (default :data:`WIKITEXT_URLS`) is
    downloaded once into the cache, its SHA-256 checked against ``sha256``, and
    extracted there.

    Parameters
    ----------
    name : {"wikitext-2", "wikitext-103"}
    data_dir : str or Path, optional
        Folder with an extracted copy; defaults to ``$SCALING_CORE_DATA``.
    url : str, optional
        Archive location (``https://`` or ``file://``).
    sha256 : str
        Expected SHA-256 of the archive; required for a download (see
        :data:`WIKITEXT_PUBLISHED_SHA256` for the third-party published values).
    timeout : float
        Seconds to wait for each network read of a download.

    Returns
    -------
    dict
        ``{"train": [...], "valid": [...], "test": [...]}``; each entry a paragraph or
        heading line, words separated by spaces, rare words already ``<unk>``.

    Raises
    ------
    ValueError
        If the downloaded archive's checksum differs from ``sha256``.
    """
    check_choice("name", name, WIKITEXT_URLS)
    folder = _local_wikitext(name, data_dir) or _downloaded_wikitext(name, url, sha256, timeout)
    return {split: load_text_lines(folder / file) for split, file in WIKITEXT_SPLITS.items()}


def _local_wikitext(name: str, data_dir: str | Path | None) -> Path | None:
    root = default_data_dir(data_dir)
    folder = root / name if root is not None else None
    return folder if folder is not None and (folder / WIKITEXT_SPLITS["train"]).is_file() else None


def _downloaded_wikitext(name: str, url: str | None, sha256: str | None, timeout: float) -> Path:
    if not sha256:
        raise ParameterError("sha256", sha256, "the archive's hex SHA-256 (published value: "
                             f"{WIKITEXT_PUBLISHED_SHA256[name]})")
    archive = download(url or WIKITEXT_URLS[name], sha256, folder=cache_dir("downloads"), name=f"{name}-v1.zip",
                       timeout=timeout)
    target = cache_dir("wikitext", sha256[:16])
    if not all((target / name / file).is_file() for file in WIKITEXT_SPLITS.values()):
        staging = Path(tempfile.mkdtemp(dir=target, prefix=".extract-"))
        try:  # extract aside, then move into place: an interrupted extraction leaves nothing half-done
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(staging)
            if not (staging / name).is_dir():
                raise data_error(archive, None, f"the archive has no {name}/ folder")
            shutil.rmtree(target / name, ignore_errors=True)
            os.replace(staging / name, target / name)
        except (zipfile.BadZipFile, EOFError) as error:
            raise data_error(archive, None, f"corrupt zip archive ({error})") from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target / name


def split_tail(sentences: list[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """Hold out the contiguous last ``val_fraction`` of ``sentences`` (at least one) as V."""
    if not 0.0 < val_fraction < 1.0:
        raise ParameterError("val_fraction", val_fraction, "a number in (0, 1)")
    n_val = max(1, int(round(val_fraction * len(sentences))))
    return sentences[:-n_val], sentences[-n_val:]

