"""Neural machine translation as a sweep task: sentence pairs, counted in target tokens.

Training examples are sentence pairs; each counts for the number of target-language
tokens it holds, as in the paper's appendix (the end-of-sentence marker is
predicted but not counted). The model family ``"seq2seq"`` is the attention
encoder-decoder of :mod:`scaling_core.models.seq2seq` and its size is the tied
embedding/hidden width ``d``.

Training minimises the per-sequence cross-entropy (nats summed over a sentence's
target tokens, averaged over sentences); the validation metrics on V are, with
teacher forcing, the per-token classification error, the bits per token and the
per-sequence cross-entropy.

Datasets: ``"g2p"`` (embedded, offline: King James Bible fragments to IPA phonemes),
``"multi30k"`` (German to English, shared BPE vocabulary) and ``"parallel"`` (any
line-aligned pair of files, e.g. WMT'16). The sweep settings per profile live in
:mod:`scaling_core.experiments.nmt`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils import _pytree as pytree

from scaling_core.baselines import class_prior_metrics, ngram_log_probs
from scaling_core.data.bpe import BOS_ID, EOS_ID, PAD_ID, train_bpe
from scaling_core.data.g2p import SymbolTokenizer, characters, ipa_symbols, load_g2p
from scaling_core.data.translation import load_multi30k, load_parallel
from scaling_core.models.seq2seq import Seq2Seq, Seq2SeqConfig
from scaling_core.validation import ParameterError, check_choice

DATASETS = ("g2p", "multi30k", "parallel")
"""Datasets :func:`make_translation_task` accepts; the first is the offline default."""

BUCKET_BATCHES = 16
"""Batches per length bucket: a shuffled bucket is sorted by length, then cut into batches."""


@dataclass
class TranslationBatch:
    """Padded tensors of a batch of B sentence pairs."""

    src: torch.Tensor  # (B, S) source ids, PAD_ID-padded
    src_lens: torch.Tensor  # (B,) source lengths
    tgt_in: torch.Tensor  # (B, T) BOS_ID then target ids
    tgt_out: torch.Tensor  # (B, T) target ids then EOS_ID, PAD_ID-padded

    def to(self, device: str) -> TranslationBatch:
        return TranslationBatch(*(t.to(device) for t in (self.src, self.src_lens, self.tgt_in, self.tgt_out)))

    def padded(self, src_width: int, tgt_width: int) -> TranslationBatch:
        """The batch with ``PAD_ID`` columns appended up to the given widths (the loss ignores them)."""
        def pad(t, width):
            return F.pad(t, (0, width - t.shape[1]), value=PAD_ID)
        return TranslationBatch(pad(self.src, src_width), self.src_lens, pad(self.tgt_in, tgt_width),
                                pad(self.tgt_out, tgt_width))


pytree.register_pytree_node(  # tensors as leaves, so batches of stacked trials go through vmap
    TranslationBatch, lambda b: ([b.src, b.src_lens, b.tgt_in, b.tgt_out], None),
    lambda leaves, _: TranslationBatch(*leaves), serialized_type_name="scaling_core.TranslationBatch")


def collate(sources: list[np.ndarray], targets: list[np.ndarray]) -> TranslationBatch:
    """Pad id sequences into a :class:`TranslationBatch` (markers added to the target)."""
    batch, src_width = len(sources), max(len(s) for s in sources)
    tgt_width = max(len(t) for t in targets) + 1
    src = torch.full((batch, src_width), PAD_ID, dtype=torch.long)
    tgt_in = torch.full((batch, tgt_width), PAD_ID, dtype=torch.long)
    tgt_out = torch.full((batch, tgt_width), PAD_ID, dtype=torch.long)
    for row, (s, t) in enumerate(zip(sources, targets)):
        src[row, : len(s)] = torch.as_tensor(s)
        tgt_in[row, : len(t) + 1] = torch.as_tensor(np.concatenate([[BOS_ID], t]))
        tgt_out[row, : len(t) + 1] = torch.as_tensor(np.concatenate([t, [EOS_ID]]))
    src_lens = torch.as_tensor([len(s) for s in sources], dtype=torch.long)
    return TranslationBatch(src, src_lens, tgt_in, tgt_out)


class TranslationTask:
    """Sentence-pair transduction implementing :class:`scaling_core.sweep.task.Task`.

    Parameters
    ----------
    name : str
        Task identifier, e.g. ``"nmt-multi30k"``.
    train, val : pandas.DataFrame
        Sentence pairs (columns ``source``, ``target``); ``val`` is V.
    src_tokenizer, tgt_tokenizer
        Objects with ``encode(list of str) -> list of id lists``, ``decode(ids) -> str``
        and ``vocab_size`` (the same object for a shared vocabulary).
    max_len : int
        Pairs with more than ``max_len`` tokens on either side are left out.
    model_options : dict, optional
        Further :class:`Seq2SeqConfig` fields (``dropout``, ``decoder_layers`` ...).
    """

    unit = "tokens"
    metrics = ("val_error", "val_bits_per_token", "val_loss")

    def __init__(self, name, train, val, src_tokenizer, tgt_tokenizer, max_len=64,
                 model_options=None):
        self.name = name
        self.src_tokenizer, self.tgt_tokenizer = src_tokenizer, tgt_tokenizer
        self.families = ("seq2seq",)
        self.model_options = dict(model_options or {})
        # trials of one width train stacked only without dropout (the stacked LSTM has none)
        self.stackable = float(self.model_options.get("dropout", Seq2SeqConfig.dropout)) == 0.0
        self.train_text, self.train_src, self.train_tgt = self._encode(train, max_len)
        self.val_text, self.val_src, self.val_tgt = self._encode(val, max_len)
        if not self.train_src or not self.val_src:
            raise ValueError(f"parameter 'max_len' got {max_len!r}: no training or validation pair fits")
        self.fingerprint = self._fingerprint()

    def _encode(self, pairs: pd.DataFrame, max_len: int):
        """Token ids of both sides, keeping pairs of 1..max_len tokens on each side."""
        src = self.src_tokenizer.encode(pairs["source"].tolist())
        tgt = self.tgt_tokenizer.encode(pairs["target"].tolist())
        keep = [i for i, (s, t) in enumerate(zip(src, tgt)) if 0 < len(s) <= max_len and 0 < len(t) <= max_len]
        text = pairs.iloc[keep][["source", "target"]].reset_index(drop=True)
        as_array = lambda ids: np.asarray(ids, dtype=np.int64)  # noqa: E731
        return text, [as_array(src[i]) for i in keep], [as_array(tgt[i]) for i in keep]

    def _fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.name}|{self.model_options}".encode())
        for ids in (*self.train_src, *self.train_tgt, *self.val_src, *self.val_tgt):
            digest.update(ids.tobytes() + b"|")
        return digest.hexdigest()[:16]

    def example_units(self) -> np.ndarray:
        """Target-language tokens of each training pair (sentence markers not counted)."""
        return np.array([len(t) for t in self.train_tgt], dtype=np.int64)

    def model_config(self, size: float) -> Seq2SeqConfig:
        """The :class:`Seq2SeqConfig` of width ``size`` for this task's vocabularies.

        The encoder splits the width between its two directions, so ``size`` is rounded
        to the nearest even width (a projected size of 23 trains width 24).
        """
        width = max(2, 2 * round(float(size) / 2))
        return Seq2SeqConfig(
            src_vocab_size=self.src_tokenizer.vocab_size, tgt_vocab_size=self.tgt_tokenizer.vocab_size,
            width=width, pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, **self.model_options,
        )

    def stack_batches(self, batches: list[TranslationBatch]) -> TranslationBatch:
        """Members' batches padded to common widths and stacked on a leading member axis."""
        src_width = max(b.src.shape[1] for b in batches)
        tgt_width = max(b.tgt_in.shape[1] for b in batches)
        padded = [b.padded(src_width, tgt_width) for b in batches]
        return TranslationBatch(*(torch.stack(parts) for parts in zip(*(pytree.tree_leaves(b) for b in padded))))

    def build_model(self, family: str, size: float) -> Seq2Seq:
        check_choice("family", family, self.families)
        return Seq2Seq(self.model_config(size))

    def train_batches(self, indices, batch_size, generator, device) -> Iterator[TranslationBatch]:
        """One epoch: shuffle, sort each bucket of ``16 * batch_size`` pairs by length, batch, shuffle batches."""
        indices = np.asarray(indices)
        order = indices[torch.randperm(len(indices), generator=generator).numpy()]
        batches = []
        for start in range(0, len(order), BUCKET_BATCHES * batch_size):
            bucket = order[start : start + BUCKET_BATCHES * batch_size]
            bucket = bucket[np.argsort([len(self.train_tgt[i]) for i in bucket], kind="stable")]
            batches += [bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size)]
        for b in torch.randperm(len(batches), generator=generator).tolist():
            chosen = batches[b]
            yield collate([self.train_src[i] for i in chosen], [self.train_tgt[i] for i in chosen]).to(device)

    def train_loss(self, model: Seq2Seq, batch: TranslationBatch) -> torch.Tensor:
        r"""Per-sequence cross-entropy :math:`-\frac{1}{B}\sum_b \sum_t \log p(y_{bt} | y_{b,<t}, x_b)`."""
        logits = model(batch.src, batch.src_lens, batch.tgt_in)  # (B, T, V)
        nats = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD_ID, reduction="sum")
        return nats / batch.src.shape[0]

    def evaluate(self, model: Seq2Seq, device: str, batch_size: int = 256) -> dict[str, float]:
        r"""Teacher-forced metrics on V, over its :math:`N` predicted tokens and :math:`n` sentences.

        ``val_error`` :math:`= \frac{1}{N}\sum 1[\arg\max p \ne y]`, ``val_bits_per_token``
        :math:`= \frac{1}{N \ln 2}\sum -\ln p(y)`, ``val_loss`` :math:`= \frac{1}{n}\sum -\ln p(y)`
        (per-sequence, like the training loss); end-of-sentence predictions included.
        """
        errors = nats = tokens = 0.0
        for batch in self._val_batches(batch_size):
            batch = batch.to(device)
            logits = model(batch.src, batch.src_lens, batch.tgt_in)  # (B, T, V)
            real = batch.tgt_out != PAD_ID
            errors += ((logits.argmax(-1) != batch.tgt_out) & real).sum().item()
            nats += F.cross_entropy(logits.transpose(1, 2), batch.tgt_out, ignore_index=PAD_ID, reduction="sum").item()
            tokens += real.sum().item()
        return {"val_error": errors / tokens, "val_bits_per_token": nats / tokens / math.log(2),
                "val_loss": nats / len(self.val_src), "val_tokens": tokens}

    def baselines(self, indices: np.ndarray) -> dict[str, dict[str, float]]:
        """Source-blind predictors of the shard's target tokens, scored like :meth:`evaluate`.

        The tokens are each target sentence's ids then ``EOS_ID``, as :meth:`evaluate` scores
        them. ``"unigram"``: their add-one unigram over every id but ``PAD_ID`` and ``BOS_ID``
        (never targets), at every position: ``val_bits_per_token`` and the per-sentence ``val_loss``.
        ``"most frequent"``: the shard's most frequent token (the unigram's argmax, ties to the
        lowest id) output at every position: ``val_error``.
        """
        def tokens(sentences):  # ids of each sentence, then EOS_ID
            return np.insert(np.concatenate(sentences), np.cumsum([len(t) for t in sentences]), EOS_ID)

        train, val = tokens([self.train_tgt[i] for i in np.asarray(indices)]), tokens(self.val_tgt)
        size = self.tgt_tokenizer.vocab_size
        support = np.setdiff1d(np.arange(size), [PAD_ID, BOS_ID])
        nats = -ngram_log_probs(np.zeros((len(train), 0)), train, np.zeros((len(val), 0)), val, size, support).sum()
        return {"unigram": {"val_bits_per_token": float(nats / len(val) / math.log(2)),
                            "val_loss": float(nats / len(self.val_src))},
                "most frequent": {"val_error": class_prior_metrics(train, val, size)["top1_error"]}}

    def _val_batches(self, batch_size: int) -> Iterator[TranslationBatch]:
        order = np.argsort([len(t) for t in self.val_tgt], kind="stable")
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            yield collate([self.val_src[i] for i in chosen], [self.val_tgt[i] for i in chosen])

    @torch.no_grad()
    def sample_translations(self, model: Seq2Seq, n: int = 5, device: str = "cpu",
                            max_len: int = 100) -> list[tuple[str, str, str]]:
        """Greedy translations of the first ``n`` pairs of V: ``(source, reference, hypothesis)``."""
        was_training = model.training
        model.eval()
        batch = collate(self.val_src[:n], self.val_tgt[:n]).to(device)
        output = model.greedy_translate(batch.src, batch.src_lens, max_len=max_len).cpu()
        model.train(was_training)
        hypotheses = [self.tgt_tokenizer.decode(_until_eos(row.tolist())) for row in output]
        rows = self.val_text.iloc[: len(hypotheses)]
        return list(zip(rows["source"], rows["target"], hypotheses))


def _until_eos(ids: list[int]) -> list[int]:
    return ids[: ids.index(EOS_ID)] if EOS_ID in ids else ids


def _first(frame: pd.DataFrame, size: int | None, seed: int) -> pd.DataFrame:
    """A seeded random subset of ``size`` rows (all rows when ``size`` is None), in original order."""
    if size is None or size >= len(frame):
        return frame
    keep = np.sort(np.random.default_rng(seed).permutation(len(frame))[:size])
    return frame.iloc[keep].reset_index(drop=True)


def _pairs(dataset, data_dir, src_path, tgt_path, val_src_path, val_tgt_path, seed, val_size, g2p):
    """(train, val) sentence pairs of ``dataset``."""
    if dataset == "g2p":
        return load_g2p(seed=seed, **g2p)
    if dataset == "multi30k":
        return load_multi30k("train", data_dir), load_multi30k("val", data_dir)
    if src_path is None or tgt_path is None:
        raise ParameterError("src_path", src_path, "paths of a line-aligned pair (src_path and tgt_path)")
    pairs = load_parallel(src_path, tgt_path)
    if val_src_path is not None and val_tgt_path is not None:
        return pairs, load_parallel(val_src_path, val_tgt_path)
    held_out = np.random.default_rng(seed).permutation(len(pairs))[:val_size]  # V from the file itself
    is_val = np.isin(np.arange(len(pairs)), held_out)
    return pairs[~is_val].reset_index(drop=True), pairs[is_val].reset_index(drop=True)


def make_translation_task(
    dataset: str = "g2p", data_dir=None, src_path=None, tgt_path=None, val_src_path=None,
    val_tgt_path=None, vocab_size: int = 8000, seed: int = 0, max_len: int = 64,
    val_size: int = 1000, max_words: int = 8, max_verses: int | None = None,
    train_size: int | None = None, **model_options,
) -> TranslationTask:
    """Build the translation task (the sweep engine's factory).

    Parameters
    ----------
    dataset : {"g2p", "multi30k", "parallel"}
        ``g2p``: embedded KJV grapheme-to-phoneme (characters to IPA symbols);
        ``multi30k``: German to English from ``data_dir`` or a verified download;
        ``parallel``: ``src_path``/``tgt_path`` (V from ``val_src_path``/``val_tgt_path``,
        else ``val_size`` pairs held out of the same files).
    vocab_size : int
        BPE vocabulary shared by both languages (multi30k, parallel); for g2p a cap
        on each symbol vocabulary.
    seed : int
        Seed of held-out splits and subsets.
    max_len : int
        Longest sentence kept, in tokens, on either side.
    val_size : int
        Cap on the size of V, in sentence pairs (a seeded subset).
    max_words, max_verses : int
        Longest g2p fragment in words; how many Bible verses (from Genesis 1:1) to
        transcribe (``None``: all 31,103, about 3.7M phoneme symbols).
    train_size : int, optional
        Keep only this many training pairs (a seeded subset) before tokenisation.
    **model_options
        Further :class:`Seq2SeqConfig` fields, e.g. ``dropout=0.0``, ``input_feed=True``.
    """
    check_choice("dataset", dataset, DATASETS)
    train, val = _pairs(dataset, data_dir, src_path, tgt_path, val_src_path, val_tgt_path,
                        seed, val_size, {"max_words": max_words, "max_verses": max_verses})
    train, val = _first(train, train_size, seed), _first(val, val_size, seed)
    if dataset == "g2p":
        src_tok = SymbolTokenizer.fit(train["source"], characters, max_size=vocab_size)
        tgt_tok = SymbolTokenizer.fit(train["target"], ipa_symbols, max_size=vocab_size)
    else:
        src_tok = tgt_tok = train_bpe([*train["source"], *train["target"]], vocab_size)
    return TranslationTask(f"nmt-{dataset}", train, val, src_tok, tgt_tok, max_len, model_options)
