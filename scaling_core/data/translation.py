"""Parallel text for translation: any line-aligned pair of files, and Multi30k German-English.

A parallel corpus is two text files with one sentence per line, line ``i`` of the
target being the translation of line ``i`` of the source (plain or gzip). Multi30k
(Elliott et al., 2016; task 1, raw text) is read from a data folder or, when none
is given, downloaded once from its canonical repository and checked against the
SHA-256 digests below (files in a data folder are checked against the folder's
``SHA256SUMS`` when it ships one). Larger corpora such as WMT'16 work through
:func:`load_parallel`.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import pandas as pd

from scaling_core.data.integrity import DEFAULT_TIMEOUT, data_error, download, verify_files
from scaling_core.paths import cache_dir
from scaling_core.validation import check_choice, default_data_dir

MULTI30K_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
"""Where the raw Multi30k task-1 files live upstream (``{split}.{lang}.gz``)."""

MULTI30K_SHA256 = {
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2017_flickr.de.gz": "a2c89666db00c495cd8513b9d708d5a3acc205d7de312ef2bf5fb7ebc1540aee",
    "test_2017_flickr.en.gz": "76a444ee25172e72695cddb13ae4a3bda59430617be88e0bb46b60504f054074",
    "test_2017_mscoco.de.gz": "799e4854c25d601cb6cb6be29eabe5667734c61ace2f495e03e429031a0bc338",
    "test_2017_mscoco.en.gz": "aab300bfb4427697987e02cd0aacd44bfe8aa50456231b6474c08038bbed2b58",
    "test_2018_flickr.de.gz": "ddd0130c7d97482dc5197a02141dae8dd79f20f03586c480d675c09a32daf608",
    "test_2018_flickr.en.gz": "ef4f4844037d4c5dea75c9a8ed5fd78905967a26f67c255e230cc9780032654d",
}
"""SHA-256 of every raw Multi30k task-1 file."""

MULTI30K_SPLITS = ("train", "val", "test_2016_flickr", "test_2017_flickr",
                   "test_2017_mscoco", "test_2018_flickr")
"""Splits of Multi30k task 1: 29,000 / 1,014 / 1,000 / 1,000 / 461 / 1,071 sentence pairs."""


def read_lines(path: str | os.PathLike) -> list[str]:
    """Lines of a UTF-8 text file (``.gz`` decompressed), without their line endings."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="\n") as handle:
            return [line.rstrip("\r\n") for line in handle]
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise data_error(path, None, f"corrupt or truncated gzip file ({error})") from error
    except UnicodeDecodeError as error:
        raise data_error(path, None, f"not UTF-8 text ({error})") from error


def load_parallel(src_path: str | os.PathLike, tgt_path: str | os.PathLike) -> pd.DataFrame:
    """Read a line-aligned pair of text files as sentence pairs.

    Parameters
    ----------
    src_path, tgt_path : path
        Source- and target-language files, one sentence per line, plain or gzip.

    Returns
    -------
    pandas.DataFrame
        Columns ``source`` and ``target`` (stripped), one row per line pair; pairs
        where either side is empty are dropped.

    Raises
    ------
    ValueError
        If the two files have different numbers of lines.
    """
    sources, targets = read_lines(src_path), read_lines(tgt_path)
    if len(sources) != len(targets):
        raise ValueError(
            f"parallel files are not line-aligned: {src_path} has {len(sources)} lines, "
            f"{tgt_path} has {len(targets)}"
        )
    frame = pd.DataFrame({"source": sources, "target": targets}).apply(lambda col: col.str.strip())
    keep = (frame["source"] != "") & (frame["target"] != "")
    return frame[keep].reset_index(drop=True)


def multi30k_files(
    split: str,
    data_dir: str | os.PathLike | None = None,
    src_lang: str = "de",
    tgt_lang: str = "en",
    base_url: str = MULTI30K_URL,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[Path, Path]:
    """Paths of one Multi30k split, from ``data_dir`` or downloaded and checksum-verified.

    ``data_dir`` (else ``$SCALING_CORE_DATA``) is searched for ``multi30k/`` (or the
    files themselves), whose ``SHA256SUMS`` (if any) the files are checked against; when
    absent the files are fetched from ``base_url`` into the cache (``timeout``: seconds
    per network read) and checked against :data:`MULTI30K_SHA256`.
    """
    check_choice("split", split, MULTI30K_SPLITS)
    check_choice("src_lang", src_lang, ("de", "en"))
    check_choice("tgt_lang", tgt_lang, ("de", "en"))
    names = [f"{split}.{src_lang}.gz", f"{split}.{tgt_lang}.gz"]
    folder = default_data_dir(data_dir)
    if folder is not None:
        for candidate in (folder / "multi30k", folder):
            if all((candidate / name).is_file() for name in names):
                verify_files([candidate / name for name in names])
                return candidate / names[0], candidate / names[1]
    fetched = [download(base_url + name, MULTI30K_SHA256[name], cache_dir("multi30k"), timeout=timeout)
               for name in names]
    return fetched[0], fetched[1]


def load_multi30k(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    src_lang: str = "de",
    tgt_lang: str = "en",
    base_url: str = MULTI30K_URL,
) -> pd.DataFrame:
    """Multi30k task-1 sentence pairs (raw text), German to English by default.

    Parameters
    ----------
    split : str
        One of :data:`MULTI30K_SPLITS`.
    data_dir : path, optional
        Folder holding ``multi30k/{split}.{lang}.gz``; default ``$SCALING_CORE_DATA``.
        Without one the files are downloaded (once) from ``base_url``.
    src_lang, tgt_lang : {"de", "en"}
        Translation direction.

    Returns
    -------
    pandas.DataFrame
        Columns ``source`` and ``target``, see :func:`load_parallel`.
    """
    src_path, tgt_path = multi30k_files(split, data_dir, src_lang, tgt_lang, base_url)
    return load_parallel(src_path, tgt_path)
