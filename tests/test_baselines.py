"""Trivial baselines: n-gram and class-prior maths by hand, and each task's ``baselines`` scored like ``evaluate``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from scaling_core.baselines import (
    class_prior_metrics, ngram_log_probs, sentence_histories, shifted_histories, unigram_probabilities,
)
from scaling_core.data.bpe import BOS_ID, EOS_ID, PAD_ID
from scaling_core.data.lm_batches import IGNORE, PackedSequences, padded_batch
from scaling_core.data.speech import Utterances
from scaling_core.data.speech_features import encode
from scaling_core.tasks.images import make_image_task
from scaling_core.tasks.language import make_char_lm_task, make_word_lm_task
from scaling_core.tasks.mnist1d import MNIST1DTask
from scaling_core.tasks.speech import SpeechTask
from scaling_core.tasks.translation import make_translation_task


# ----------------------------------------------------------------------------- the maths, by hand
def test_add_one_unigram_cross_entropy_by_hand():
    train = np.array([0, 1, 1, 2, 2, 2, 0, 1, 2, 2])  # counts 2, 3, 5 of N = 10 over V = 3 words
    val = np.array([2, 0, 1, 2, 2])
    expected = -(3 * math.log((5 + 1) / (10 + 3)) + math.log((2 + 1) / 13) + math.log((3 + 1) / 13)) / 5
    empty = np.zeros((0, 0))
    assert -ngram_log_probs(empty.reshape(10, 0), train, empty.reshape(5, 0), val, 3).mean() == pytest.approx(expected)
    assert unigram_probabilities(train, 3) == pytest.approx(np.array([3, 4, 6]) / 13)
    # a support leaves the other ids at zero and smooths over |S| only
    assert unigram_probabilities(train, 4, support=[0, 1, 2]) == pytest.approx(np.array([3, 4, 6, 0]) / 13)
    with pytest.raises(ValueError, match="support"):
        unigram_probabilities(train, 3, support=[0, 1])


def test_witten_bell_bigram_by_hand_and_normalised():
    # stream 0 1 0 1 1 0: (history -> target) pairs 0->1, 1->0, 0->1, 1->1, 1->0
    history, targets = np.array([0, 1, 0, 1, 1]), np.array([1, 0, 1, 1, 0])
    p1 = np.array([2 + 1, 3 + 1, 0 + 1]) / (5 + 3)  # add-one unigram of the targets
    # context 0: c = 2, T = 1 (only 1 follows); context 1: c = 3, T = 2 (0 twice, 1 once); context 2 unseen
    expected = {(0, 0): (0 + 1 * p1[0]) / 3, (0, 1): (2 + 1 * p1[1]) / 3, (0, 2): (0 + 1 * p1[2]) / 3,
                (1, 0): (2 + 2 * p1[0]) / 5, (1, 1): (1 + 2 * p1[1]) / 5, (1, 2): (0 + 2 * p1[2]) / 5,
                (2, 0): p1[0], (2, 1): p1[1], (2, 2): p1[2]}
    query = np.array(list(expected))
    probs = np.exp(ngram_log_probs(history, targets, query[:, 0], query[:, 1], 3))
    assert probs == pytest.approx(np.array(list(expected.values())))
    assert probs.reshape(3, 3).sum(axis=1) == pytest.approx(np.ones(3))


def test_witten_bell_trigram_sums_to_one_over_the_support_for_every_context():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 6, 300)  # targets 1..5, id 0 never a target (a start marker in histories)
    history = np.stack([np.r_[0, 0, ids[:-2]], np.r_[0, ids[:-1]]], axis=1)
    support = np.arange(1, 6)
    contexts = np.array([(a, b) for a in range(6) for b in range(6)])  # seen and unseen
    query_history = np.repeat(contexts, len(support), axis=0)
    probs = np.exp(ngram_log_probs(history, ids, query_history, np.tile(support, len(contexts)), 6, support))
    assert probs.min() > 0
    assert probs.reshape(len(contexts), len(support)).sum(axis=1) == pytest.approx(np.ones(len(contexts)))


def test_sentence_histories_are_the_padded_batch_inputs():
    sentences = [np.array([5, 6, 7, 1]), np.array([8]), np.array([9, 1])]
    packed = PackedSequences.pack(sentences)
    batch = padded_batch(sentences, 1, 0, "cpu")
    kept = batch.targets.numpy() != IGNORE
    assert np.array_equal(sentence_histories(packed.ids, packed.offsets, 3, 1, 0),
                          shifted_histories(batch.inputs.numpy(), 3, 0, kept))
    assert sentence_histories(packed.ids, packed.offsets, 3, 1, 0).tolist() == [
        [0, 1], [1, 5], [5, 6], [6, 7], [0, 1], [0, 1], [1, 9]]


def test_class_prior_by_hand():
    train, val = np.array([2, 2, 1, 1, 0, 3]), np.array([1, 2, 3, 0, 2])  # counts 1, 2, 2, 1: ranks 1, 2, 0, 3
    metrics = class_prior_metrics(train, val, num_classes=4, k=2)
    assert metrics["top1_error"] == pytest.approx(4 / 5)  # class 1 (tie with 2, lower id)
    assert metrics["topk_error"] == pytest.approx(2 / 5)  # {1, 2}: 3 and 0 missed
    prior = (np.array([1, 2, 2, 1]) + 1) / (6 + 4)
    assert metrics["cross_entropy"] == pytest.approx(-np.mean(np.log(prior[val])))


# ----------------------------------------------------------------------------- tasks
class FixedLogits(nn.Module):
    """A stand-in model that ignores its input: the same logits at every output position."""

    def __init__(self, logits: np.ndarray):
        super().__init__()
        self.register_buffer("logits", torch.as_tensor(logits, dtype=torch.float32))

    def forward(self, inputs, *rest):
        """LM: ``(inputs, state) -> ((B, T, V), state)``; seq2seq: ``(src, lens, tgt_in) -> (B, T, V)``;
        classifier: ``x -> (B, C)``."""
        if len(rest) == 2:
            return self.logits.expand(*rest[1].shape, -1)
        if len(rest) == 1:
            return self.logits.expand(*inputs.shape, -1), rest[0]
        return self.logits.expand(len(inputs), -1)


def _evaluate(task, logits):
    with torch.no_grad():
        return task.evaluate(FixedLogits(logits), "cpu")


def _check_shape(result, names, metrics):
    assert list(result) == names
    for name in names:
        assert set(result[name]) == set(metrics) and all(math.isfinite(v) for v in result[name].values())


def test_word_lm_baselines_score_like_evaluate():
    task = make_word_lm_task("kjv", vocab_size=2_000, val_units=1_003)  # 1003 predictions: 3 dropped by 10 rows
    small, full = task.baselines(np.arange(50)), task.baselines(np.arange(len(task.train)))
    _check_shape(full, ["unigram", "bigram"], task.metrics)
    assert full["bigram"]["val_loss"] < full["unigram"]["val_loss"] < small["unigram"]["val_loss"]
    assert full["unigram"]["val_ppl"] == pytest.approx(math.exp(full["unigram"]["val_loss"]))
    indices = np.arange(0, len(task.train), 3)
    counts = np.bincount(task.train.stream(indices), minlength=len(task.vocab))
    log_p = np.log((counts + 1) / (counts.sum() + len(task.vocab)))
    assert _evaluate(task, log_p)["val_loss"] == pytest.approx(task.baselines(indices)["unigram"]["val_loss"], rel=1e-5)


def test_char_lm_baselines_score_like_evaluate():
    task = make_char_lm_task("kjv", val_units=2_000)
    small, full = task.baselines(np.arange(20)), task.baselines(np.arange(len(task.train)))
    _check_shape(full, ["unigram", "bigram", "trigram"], task.metrics)
    assert full["trigram"]["val_loss"] < full["bigram"]["val_loss"] < full["unigram"]["val_loss"]
    assert small["trigram"]["val_loss"] > full["trigram"]["val_loss"]
    assert full["trigram"]["val_bpc"] == pytest.approx(full["trigram"]["val_loss"] / math.log(2))
    indices = np.arange(0, len(task.train), 500)  # ~7k characters: a support of 98 ids would be 5e-5 off
    counts = np.bincount(task.train.stream(indices), minlength=len(task.vocab))[1:]  # <pad> (0) is never a target
    log_p = np.r_[-np.inf, np.log((counts + 1) / (counts.sum() + len(counts)))]
    assert _evaluate(task, log_p)["val_loss"] == pytest.approx(task.baselines(indices)["unigram"]["val_loss"], rel=1e-5)


def _distinct_counts(labels: np.ndarray, classes: int) -> np.ndarray:
    """Indices holding c + 1 examples of class c: a prior without ties."""
    return np.concatenate([np.flatnonzero(labels == c)[: c + 1] for c in range(classes)])


def test_image_class_prior_scores_like_evaluate():
    task = make_image_task("mnist1d", seed=0, pool_size=400, val_size=200)
    indices = _distinct_counts(task.train.labels, 10)
    result = task.baselines(indices)
    _check_shape(result, ["class prior"], task.metrics)
    counts = np.bincount(task.train.labels[indices], minlength=10)
    assert _evaluate(task, np.log((counts + 1) / (counts.sum() + 10))) == pytest.approx(result["class prior"])


def test_mnist1d_class_prior_scores_like_evaluate():
    task = MNIST1DTask(n_train=300, n_val=100)
    indices = _distinct_counts(task.y.numpy(), 10)
    result = task.baselines(indices)
    _check_shape(result, ["class prior"], task.metrics)
    counts = np.bincount(task.y.numpy()[indices], minlength=10)
    assert _evaluate(task, np.log((counts + 1) / (counts.sum() + 10))) == pytest.approx(result["class prior"])


class EmptyDecoder(nn.Module):
    """A speech stand-in that transcribes nothing."""

    def loss(self, *batch):
        return torch.zeros(())

    def decode(self, features, lengths):
        return [encode("").tolist() for _ in lengths]


def test_speech_empty_output_scores_like_evaluate():
    rng = np.random.default_rng(0)
    audio = [rng.normal(0, 0.1, 4000).astype(np.float32) for _ in range(3)]
    task = SpeechTask("tiny", Utterances(audio, ["a b", "c", "d e"], 8000),
                      Utterances(audio[:2], ["a bc", "de"], 8000), 1, 2)
    result = task.baselines(np.arange(3))
    assert result == {"empty output": {"val_cer": 1.0, "val_wer": 1.0}}
    with torch.no_grad():
        metrics = task.evaluate(EmptyDecoder(), "cpu")
    assert {k: metrics[k] for k in ("val_cer", "val_wer")} == result["empty output"]


def test_translation_baselines_score_like_evaluate():
    task = make_translation_task("g2p", max_verses=300, val_size=50, seed=0)
    indices = np.arange(0, len(task.train_tgt), 2)
    result = task.baselines(indices)
    assert list(result) == ["unigram", "most frequent"]
    assert set(result["unigram"]) == {"val_bits_per_token", "val_loss"}
    assert set(result["most frequent"]) == {"val_error"}
    size = task.tgt_tokenizer.vocab_size
    counts = np.bincount(np.concatenate([np.r_[task.train_tgt[i], EOS_ID] for i in indices]), minlength=size)
    assert np.sort(counts)[-1] > np.sort(counts)[-2]  # a unique argmax: torch's and ours agree
    log_p = np.log((counts + 1.0) / (counts.sum() + size - 2))
    log_p[[PAD_ID, BOS_ID]] = -np.inf
    metrics = _evaluate(task, log_p)
    assert metrics["val_loss"] == pytest.approx(result["unigram"]["val_loss"], rel=1e-5)
    assert metrics["val_bits_per_token"] == pytest.approx(result["unigram"]["val_bits_per_token"], rel=1e-5)
    assert metrics["val_error"] == pytest.approx(result["most frequent"]["val_error"])
