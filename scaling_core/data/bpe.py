"""Byte-pair encoding with one vocabulary shared by both languages (``sentencepiece``).

The subword vocabulary is learnt on the training sentences of both sides together,
so identical strings (names, numbers) map to identical pieces in source and target.
Training is deterministic and cached under ``cache_dir("bpe", key)``, where the key
hashes the training text and the settings. Unknown characters fall back to UTF-8
byte pieces, so every text survives an encode/decode round trip up to
sentencepiece's NFKC normalisation and whitespace folding.
"""

from __future__ import annotations

import hashlib
import io
from typing import Iterable, Sequence

import sentencepiece as spm

from scaling_core.paths import cache_dir

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
"""Special token ids shared by every vocabulary of the translation task."""

_MIN_VOCAB = 300
"""Smallest BPE vocabulary accepted: 4 specials, 256 byte pieces and some characters."""


class BpeTokenizer:
    """A trained sentencepiece BPE model: ``encode(text) -> ids``, ``decode(ids) -> text``.

    Ids exclude the sentence markers; :data:`BOS_ID` and :data:`EOS_ID` are added by
    the batching code.
    """

    def __init__(self, model_proto: bytes):
        self.model_proto = model_proto
        self.processor = spm.SentencePieceProcessor(model_proto=model_proto)

    @property
    def vocab_size(self) -> int:
        """Number of ids, specials and byte pieces included."""
        return self.processor.get_piece_size()

    def encode(self, text: str | Sequence[str]):
        """Piece ids of one text (list of int) or of each text in a list."""
        return self.processor.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of a list of piece ids (special ids are skipped)."""
        return self.processor.decode([int(i) for i in ids if i > EOS_ID])

    def pieces(self, text: str) -> list[str]:
        """The subword pieces of ``text``, e.g. ``['▁Zwei', '▁junge', ...]``."""
        return self.processor.encode(text, out_type=str)

    def normalize(self, text: str) -> str:
        """``text`` as the round trip returns it: NFKC, runs of spaces folded, stripped."""
        return self.processor.normalize(text).replace("\u2581", " ").strip()


def train_bpe(texts: Iterable[str], vocab_size: int = 8000, character_coverage: float = 1.0) -> BpeTokenizer:
    """Learn a BPE vocabulary of ``vocab_size`` pieces from ``texts`` (or load it from the cache).

    Parameters
    ----------
    texts : iterable of str
        Training sentences of both languages (never validation or test text).
    vocab_size : int
        Total vocabulary size :math:`|V|`, at least 300 (specials and 256 byte pieces
        included). BPE performs about :math:`|V| - 260 - n_{chars}` merges.
    character_coverage : float
        Fraction of characters kept as pieces; the rest fall back to bytes.

    Returns
    -------
    BpeTokenizer

    Raises
    ------
    ValueError
        If ``vocab_size`` is too small, or too large for the training text.
    """
    if not isinstance(vocab_size, int) or vocab_size < _MIN_VOCAB:
        raise ValueError(f"parameter 'vocab_size' got {vocab_size!r}; allowed: an integer >= {_MIN_VOCAB}")
    texts = [t for t in texts if t.strip()]
    key = _cache_key(texts, vocab_size, character_coverage)
    path = cache_dir("bpe", key) / "bpe.model"
    if not path.exists():
        model = _train(texts, vocab_size, character_coverage)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(model)
        tmp.replace(path)
    return BpeTokenizer(path.read_bytes())


def _train(texts: list[str], vocab_size: int, character_coverage: float) -> bytes:
    """Run the sentencepiece BPE trainer on ``texts`` in memory; returns the model bytes."""
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, model_type="bpe",
            vocab_size=vocab_size, character_coverage=character_coverage, byte_fallback=True,
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
            input_sentence_size=0, shuffle_input_sentence=False, num_threads=1, minloglevel=2,
        )
    except RuntimeError as error:
        raise ValueError(f"parameter 'vocab_size' got {vocab_size}: {error}") from error
    return model.getvalue()


def _cache_key(texts: list[str], vocab_size: int, character_coverage: float) -> str:
    """Hash of the training text and settings (and the sentencepiece version)."""
    digest = hashlib.sha256(f"{spm.__version__}|{vocab_size}|{character_coverage}".encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]
