"""Word and character language modelling as sweep-engine tasks.

:class:`WordLMTask` follows the paper's word LMs: a vocabulary of the most frequent
training words plus ``<unk>``; an epoch joins the shard's sentences (shuffled, each
ended by ``<eos>``) into one stream, cuts it into ``batch_size`` rows and unrolls
``unroll = 80`` steps with truncated back-propagation through time, the recurrent
state carried from chunk to chunk. Data size is counted in words, ``<eos>``
included. The metric minimised is the per-word cross-entropy on V in nats,
:math:`\\mathcal{L} = -\\frac{1}{N}\\sum_{i=1}^{N} \\ln p(w_i \\mid w_{<i})`, reported
with the perplexity :math:`e^{\\mathcal{L}}`.

:class:`CharLMTask` follows the character LMs: a fixed 98-symbol vocabulary; each
sentence is its own sequence (non-continuous minibatching) ending in ``<eos>`` and
truncated to ``max_length = 150`` symbols; only kept symbols count as data and in
the loss. The metric is the per-character cross-entropy in nats, also reported in
bits per character, :math:`\\mathcal{L} / \\ln 2`.

V is capped at ``val_units`` words or characters, a fixed prefix of the seeded V
order, so an evaluation costs the same at every shard size.
"""

from __future__ import annotations

import hashlib
import math
import re
import weakref
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scaling_core.baselines import ngram_log_probs, sentence_histories, shifted_histories
from scaling_core.data.lm_batches import (
    IGNORE, CarriedState, LMBatch, PackedSequences, pad_to, padded_batch, stream_batches,
)
from scaling_core.data.lm_corpora import CHAR_DATASETS, WORD_DATASETS, load_sentence_corpus
from scaling_core.data.text import CharVocabulary, WordVocabulary, whitespace_tokenize, word_tokenize
from scaling_core.models.lstm_lm import LSTMConfig, LSTMLanguageModel
from scaling_core.models.rhn import RHNConfig, RHNLanguageModel
from scaling_core.sweep.task import FamilyPattern
from scaling_core.validation import ParameterError, check_choice

LM_FAMILIES = FamilyPattern(r"(lstm|rhn)[1-9]\d*", "'lstm<layers>' or 'rhn<depth>', e.g. 'lstm2', 'lstm4', 'rhn10'")
"""The families a language-model task builds: LSTMs by layer count, RHNs by recurrence depth."""


# ----------------------------------------------------------------------------- models and losses
def build_language_model(family: str, width: int, vocab_size: int) -> nn.Module:
    """A language model of ``family`` (``"lstm<layers>"`` or ``"rhn<depth>"``) at ``width``."""
    match = re.fullmatch(r"(lstm|rhn)([1-9]\d*)", family)
    if match is None:
        raise ParameterError("family", family, "'lstm<layers>' or 'rhn<depth>', e.g. 'lstm2', 'lstm4', 'rhn10'")
    kind, number = match.group(1), int(match.group(2))
    if kind == "lstm":
        return LSTMLanguageModel(LSTMConfig(vocab_size, width=int(width), num_layers=number))
    return RHNLanguageModel(RHNConfig(vocab_size, width=int(width), depth=number))


def summed_loss(model: nn.Module, batch: LMBatch, state=None) -> tuple[torch.Tensor, object]:
    """Total cross-entropy (nats) over ``batch``'s non-padded targets, and the model's final state."""
    logits, state = model(batch.inputs, state)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE, reduction="sum")
    return loss, state


def _fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- word LM
class WordLMTask:
    """Word-level language modelling with continuous minibatching (see the module docstring).

    Parameters
    ----------
    name : str
        Task identifier, e.g. ``"wordlm-kjv"``.
    train : PackedSequences
        Training sentences as word ids, each ending with ``<eos>`` (id 0).
    val_stream : numpy.ndarray
        V as one id stream, already capped; every id after the first is predicted.
    vocab : WordVocabulary
    unroll : int
        Steps of truncated back-propagation through time (80 in the paper).
    eval_rows : int
        Rows V is laid out in for evaluation.
    """

    unit = "words"
    metrics = ("val_loss", "val_ppl")
    graph_safe = True  # the carried state lives in buffers updated in place (CarriedState)

    def __init__(self, name, train: PackedSequences, val_stream: np.ndarray, vocab: WordVocabulary,
                 unroll: int = 80, eval_rows: int = 10):
        self.name, self.train, self.val_stream, self.vocab = name, train, val_stream, vocab
        self.families = LM_FAMILIES
        self.unroll, self.eval_rows = unroll, eval_rows
        self.fingerprint = _fingerprint(name, vocab.words, unroll, eval_rows, train.ids, train.offsets, val_stream)
        self._carried: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one state per trial

    def example_units(self) -> np.ndarray:
        return self.train.lengths()

    def build_model(self, family: str, size: float) -> nn.Module:
        return build_language_model(family, int(size), len(self.vocab))

    def train_batches(self, indices: np.ndarray, batch_size: int, generator: torch.Generator,
                      device: str) -> Iterator[LMBatch]:
        order = np.asarray(indices)[torch.randperm(len(indices), generator=generator).numpy()]
        carried = self._carried.setdefault(generator, CarriedState())  # a trial's batch-order generator: its epochs
        return stream_batches(self.train.stream(order), batch_size, self.unroll, device, carried)

    def steps_per_epoch(self, indices: np.ndarray, batch_size: int) -> int:
        """Chunks in one pass over the stream of ``indices``: :math:`\\lceil c / \\text{unroll} \\rceil`.

        The :math:`n` words are laid out in :math:`r = \\min(\\text{batch\\_size}, n - 1)` rows of
        :math:`c = \\lfloor (n - 1) / r \\rfloor` steps, as :func:`stream_batches` does, so an
        epoch of the trainer is one real pass over the shard.
        """
        words = int(self.train.lengths()[np.asarray(indices)].sum())
        rows = max(1, min(batch_size, words - 1))
        return max(1, math.ceil(((words - 1) // rows) / self.unroll))

    def train_loss(self, model: nn.Module, batch: LMBatch) -> torch.Tensor:
        """Mean per-word cross-entropy of one chunk, starting from the state the previous chunk left."""
        total, state = summed_loss(model, batch, batch.carried.current())
        batch.carried.keep(state)
        return total / batch.targets.numel()

    def evaluate(self, model: nn.Module, device: str) -> dict[str, float]:
        total, count, state = 0.0, 0, None
        for batch in stream_batches(self.val_stream, self.eval_rows, self.unroll, device):
            loss, state = summed_loss(model, batch, state)
            total, count = total + loss.item(), count + batch.targets.numel()
        val_loss = total / count
        return {"val_loss": val_loss, "val_ppl": math.exp(val_loss)}

    def baselines(self, indices: np.ndarray) -> dict[str, dict[str, float]]:
        """Add-one ``"unigram"`` and Witten-Bell ``"bigram"`` of the shard, scored like :meth:`evaluate`.

        Counted over the shard's words, each sentence preceded by ``<eos>`` (as in every
        training stream); the support is all ``len(vocab)`` ids. Scored on the targets
        :func:`stream_batches` yields for V (a remainder is dropped), each conditioned on its input.
        """
        train = self.train.stream(np.asarray(indices))
        train_inputs = np.concatenate([[0], train])[None, :-1]  # one row, <eos> (id 0) before the first word
        chunks = list(stream_batches(self.val_stream, self.eval_rows, self.unroll, "cpu"))
        inputs = torch.cat([b.inputs for b in chunks], dim=1).numpy()  # (rows, steps), as evaluate reads V
        targets = torch.cat([b.targets for b in chunks], dim=1).numpy()
        result = {}
        for name, order in (("unigram", 1), ("bigram", 2)):
            log_p = ngram_log_probs(shifted_histories(train_inputs, order, 0), train,
                                    shifted_histories(inputs, order, 0), targets.ravel(), len(self.vocab))
            result[name] = {"val_loss": float(-log_p.mean()), "val_ppl": math.exp(-log_p.mean())}
        return result


# ----------------------------------------------------------------------------- character LM
class CharLMTask:
    """Character-level language modelling, one padded sequence per sentence (see the module docstring).

    Parameters
    ----------
    name : str
        Task identifier, e.g. ``"charlm-kjv"``.
    train, valid : PackedSequences
        Sentences as :class:`CharVocabulary` ids, truncated to ``max_length`` (V already capped).
    eval_batch_size : int
        Sequences per evaluation batch.
    """

    unit = "characters"
    metrics = ("val_loss", "val_bpc")
    stackable = True  # each sentence starts from a zero state: trials of one width can train stacked
    graph_safe = True  # on CUDA every batch is padded to max_length: one shape, replayed from a graph

    def __init__(self, name, train: PackedSequences, valid: PackedSequences,
                 eval_batch_size: int = 64):
        self.name, self.train, self.valid = name, train, valid
        self.max_length = int(max(train.lengths().max(initial=1), valid.lengths().max(initial=1)))
        self.vocab = CharVocabulary()
        self.families = LM_FAMILIES
        self.eval_batch_size = eval_batch_size
        self.fingerprint = _fingerprint(name, train.ids, train.offsets, valid.ids, valid.offsets)

    def example_units(self) -> np.ndarray:
        return self.train.lengths()

    def build_model(self, family: str, size: float) -> nn.Module:
        return build_language_model(family, int(size), len(self.vocab))

    def train_batches(self, indices: np.ndarray, batch_size: int, generator: torch.Generator,
                      device: str) -> Iterator[LMBatch]:
        order = np.asarray(indices)[torch.randperm(len(indices), generator=generator).numpy()]
        width = self.max_length if str(device).startswith("cuda") else None  # padding adds nothing to the loss
        for start in range(0, len(order), batch_size):
            sequences = self.train.take(order[start : start + batch_size])
            yield padded_batch(sequences, self.vocab.eos_id, self.vocab.pad_id, device, width)

    def stack_batches(self, batches: list[LMBatch]) -> LMBatch:
        """Members' batches padded to one width and stacked: ``(K, B, T)`` inputs and targets."""
        width = max(b.inputs.shape[1] for b in batches)
        padded = [pad_to(b, width, self.vocab.pad_id) for b in batches]
        return LMBatch(torch.stack([b.inputs for b in padded]), torch.stack([b.targets for b in padded]))

    def train_loss(self, model: nn.Module, batch: LMBatch) -> torch.Tensor:
        """Mean cross-entropy per kept character (padding excluded), each sequence from a zero state."""
        total, _ = summed_loss(model, batch)
        return total / (batch.targets != IGNORE).sum()

    def evaluate(self, model: nn.Module, device: str) -> dict[str, float]:
        by_length = np.argsort(self.valid.lengths(), kind="stable")  # less padding
        total = 0.0
        for start in range(0, len(by_length), self.eval_batch_size):
            batch = self._batch(self.valid.take(by_length[start : start + self.eval_batch_size]), device)
            total += summed_loss(model, batch)[0].item()
        val_loss = total / int(self.valid.lengths().sum())
        return {"val_loss": val_loss, "val_bpc": val_loss / math.log(2)}

    def baselines(self, indices: np.ndarray) -> dict[str, dict[str, float]]:
        """Character ``"unigram"`` (add-one), ``"bigram"``, ``"trigram"`` (Witten-Bell), scored like :meth:`evaluate`.

        Every kept symbol of the shard (counts) and of V (scored) is a target. Its history is
        what :func:`padded_batch` feeds the model before it in the sentence: ``<eos>`` first,
        ``<pad>`` standing for the zero state before that. The support is every id but ``<pad>``.
        """
        train = PackedSequences.pack(self.train.take(np.asarray(indices)))
        train_history, val_history = (sentence_histories(s.ids, s.offsets, 3, self.vocab.eos_id, self.vocab.pad_id)
                                      for s in (train, self.valid))  # (N, 2): the two previous inputs
        result = {}
        for name, order in (("unigram", 1), ("bigram", 2), ("trigram", 3)):
            log_p = ngram_log_probs(train_history[:, 3 - order:], train.ids, val_history[:, 3 - order:],
                                    self.valid.ids, len(self.vocab), support=np.arange(1, len(self.vocab)))
            result[name] = {"val_loss": float(-log_p.mean()), "val_bpc": float(-log_p.mean() / math.log(2))}
        return result

    def _batch(self, sequences: list[np.ndarray], device: str) -> LMBatch:
        return padded_batch(sequences, self.vocab.eos_id, self.vocab.pad_id, device)


# ----------------------------------------------------------------------------- factories
DEFAULT_VOCAB_SIZES = {"kjv": 5_000, "wikitext-2": 10_000, "wikitext-103": 10_000, "billion-word": 10_000}
"""Words kept (``<eos>`` and ``<unk>`` included). The paper keeps 10k words of Billion Word; on
the KJV's 14k distinct tokens 5k words cover 98% of the running text."""


def make_word_lm_task(
    dataset: str = "kjv",
    data_dir: str | Path | None = None,
    vocab_size: int | None = None,
    seed: int = 0,
    val_units: int = 5_000,
    eval_rows: int = 10,
    val_fraction: float = 0.05,
    unroll: int = 80,
    sha256: str | None = None,
    max_train_sentences: int | None = None,
) -> WordLMTask:
    """Build a :class:`WordLMTask` (the factory named in a ``TaskSpec``).

    Parameters
    ----------
    dataset : {"kjv", "wikitext-2", "wikitext-103", "billion-word"}
        KJV words are split from punctuation (``word_tokenize``); the others come tokenised.
    data_dir : str or Path, optional
        Folder of real datasets (WikiText extracted copy, Billion Word release).
    vocab_size : int, optional
        Vocabulary size, built on the training split only; default :data:`DEFAULT_VOCAB_SIZES`.
    seed : int
        Seed of the KJV chapter split and of the V order.
    val_units : int
        Cap on the words of V that are predicted.
    eval_rows : int
        Rows V's stream is read in at an evaluation.
    val_fraction : float
        Fraction of KJV chapters held out.
    unroll : int
        BPTT steps.
    sha256 : str, optional
        Checksum of the WikiText archive, needed to download it.
    max_train_sentences : int, optional
        Read at most this many training sentences (large corpora).
    """
    check_choice("dataset", dataset, WORD_DATASETS)
    corpus = load_sentence_corpus(dataset, data_dir, seed, val_fraction, sha256, max_train_sentences)
    tokenize = word_tokenize if dataset == "kjv" else whitespace_tokenize
    train_tokens = [tokenize(sentence) for sentence in corpus.train]
    vocab = WordVocabulary.build(train_tokens, vocab_size or DEFAULT_VOCAB_SIZES[dataset])
    train = PackedSequences.pack([vocab.encode(tokens) for tokens in train_tokens])
    val_stream = _capped(corpus.valid, lambda s: vocab.encode(tokenize(s)), val_units + 1)
    return WordLMTask(f"wordlm-{dataset}", train, np.concatenate(val_stream)[: val_units + 1], vocab,
                      unroll=unroll, eval_rows=eval_rows)


def make_char_lm_task(
    dataset: str = "kjv",
    data_dir: str | Path | None = None,
    seed: int = 0,
    val_units: int = 5_000,
    val_fraction: float = 0.05,
    max_length: int = 150,
) -> CharLMTask:
    """Build a :class:`CharLMTask` (the factory named in a ``TaskSpec``).

    Parameters
    ----------
    dataset : {"kjv", "tinyshakespeare"}
        KJV: one verse per sentence, whole chapters held out for V (seeded).
        Tiny Shakespeare: one line per sentence, the contiguous last ``val_fraction``
        of the lines held out for V.
    data_dir : str or Path, optional
        Folder holding ``tinyshakespeare/input.txt`` (default ``$SCALING_CORE_DATA``).
    seed : int
        Seed of the KJV chapter split and V order.
    val_units : int
        Cap on the characters of V: whole V sentences are kept while their total fits.
    val_fraction : float
        Fraction of chapters (KJV) or lines (Tiny Shakespeare) held out.
    max_length : int
        Symbols kept per sentence, ``<eos>`` included (150 in the paper).
    """
    check_choice("dataset", dataset, CHAR_DATASETS)
    corpus = load_sentence_corpus(dataset, data_dir, seed, val_fraction)
    vocab = CharVocabulary()
    train = PackedSequences.pack([vocab.encode(sentence, max_length) for sentence in corpus.train])
    valid = _capped(corpus.valid, lambda s: vocab.encode(s, max_length), val_units)
    while len(valid) > 1 and sum(map(len, valid)) > val_units:
        valid.pop()
    return CharLMTask(f"charlm-{dataset}", train, PackedSequences.pack(valid))


def _capped(sentences: list[str], encode, units: int) -> list[np.ndarray]:
    """Encode ``sentences`` in order until at least ``units`` ids are gathered (or all are)."""
    encoded, total = [], 0
    for sentence in sentences:
        if total >= units:
            break
        encoded.append(encode(sentence))
        total += len(encoded[-1])
    return encoded
