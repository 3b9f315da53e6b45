r"""Trivial predictors estimated from one shard: the floor every learning curve should beat.

The tasks' ``baselines(indices)`` methods call the pure, numpy-only functions here and
score them on V with exactly the definitions of their ``evaluate``.

Smoothed n-gram models
    Targets are ids in :math:`S \subseteq \{0, \dots, V-1\}`, the *support* (the ids that
    can be targets). The unigram is add-one (Laplace) smoothed over :math:`S`,

    .. math:: P_1(w) = \frac{c(w) + 1}{N + |S|}, \qquad w \in S,

    with :math:`c(w)` the training count of :math:`w` and :math:`N = \sum_w c(w)`. An
    order-:math:`n` model conditions on the history :math:`h` of the :math:`n - 1`
    previous ids and is interpolated by Witten-Bell down to the order below, whose
    history :math:`h'` drops the oldest id:

    .. math::

        P_n(w \mid h) = \frac{c(h, w) + T(h)\, P_{n-1}(w \mid h')}{c(h) + T(h)},
        \qquad c(h) = \sum_w c(h, w), \quad T(h) = |\{w : c(h, w) > 0\}|,

    and :math:`P_n(w \mid h) = P_{n-1}(w \mid h')` for a history never seen in training
    (:math:`c(h) = 0`). Each level sums to one over :math:`S` and no probability on
    :math:`S` is zero; there is no tuned parameter.

Class prior
    A classifier that ignores its input and ranks the classes by their shard frequency
    (ties to the lowest class id); its cross-entropy uses the add-one prior over all
    :math:`C` classes, :math:`(c_y + 1) / (n + C)`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["unigram_probabilities", "ngram_log_probs", "shifted_histories", "sentence_histories",
           "class_prior_metrics"]


def unigram_probabilities(targets: np.ndarray, vocab_size: int, support: np.ndarray | None = None) -> np.ndarray:
    r"""The add-one unigram :math:`P_1(w) = (c(w) + 1) / (N + |S|)` on :math:`S`, zero elsewhere.

    Parameters
    ----------
    targets : numpy.ndarray
        Training target ids, shape (N,).
    vocab_size : int
        :math:`V`: ids run over ``0 .. V - 1``.
    support : numpy.ndarray, optional
        :math:`S`, the ids that can be targets; all :math:`V` ids by default.

    Returns
    -------
    numpy.ndarray
        Probabilities, shape (V,), summing to one.
    """
    targets = np.asarray(targets, dtype=np.int64)
    support = np.arange(vocab_size) if support is None else np.asarray(support, dtype=np.int64)
    counts = np.bincount(targets, minlength=vocab_size).astype(np.float64)
    if counts[np.setdiff1d(np.arange(vocab_size), support)].any():
        raise ValueError("a training target lies outside the support")
    probs = np.zeros(vocab_size)
    probs[support] = (counts[support] + 1.0) / (len(targets) + len(support))
    return probs


def ngram_log_probs(train_history: np.ndarray, train_targets: np.ndarray, query_history: np.ndarray,
                    query_targets: np.ndarray, vocab_size: int, support: np.ndarray | None = None) -> np.ndarray:
    r"""Natural-log probabilities :math:`\ln P_n(w \mid h)` of query events under the Witten-Bell n-gram.

    The order is :math:`n` = ``history.shape[1] + 1`` (a history of width 0 gives the
    add-one unigram). Counting is vectorised: histories and (history, target) pairs become
    integer codes, counted with :func:`numpy.unique` and looked up with
    :func:`numpy.searchsorted`.

    Parameters
    ----------
    train_history, query_history : numpy.ndarray
        Histories, shape (N, n - 1) and (M, n - 1), oldest id first, last column the id just
        before the target. History ids may lie outside the support (start markers).
    train_targets, query_targets : numpy.ndarray
        Target ids, shape (N,) and (M,), in the support.
    vocab_size, support
        As in :func:`unigram_probabilities`.

    Returns
    -------
    numpy.ndarray
        Shape (M,); the mean of its negation is the cross-entropy in nats per target.
    """
    train_history, query_history = _as_columns(train_history), _as_columns(query_history)
    train_targets = np.asarray(train_targets, dtype=np.int64)
    query_targets = np.asarray(query_targets, dtype=np.int64)
    probs = unigram_probabilities(train_targets, vocab_size, support)[query_targets]
    width = train_history.shape[1]
    base = int(max(train_history.max(initial=0), query_history.max(initial=0))) + 1
    if width and float(base) ** width * vocab_size >= 2.0**62:
        raise ValueError("histories too long or ids too large for 64-bit codes")
    for order in range(1, width + 1):  # Witten-Bell on top of the level below, last `order` history ids
        train_code = _codes(train_history[:, width - order:], base)
        query_code = _codes(query_history[:, width - order:], base)
        contexts, context_counts = np.unique(train_code, return_counts=True)
        pairs, pair_counts = np.unique(train_code * vocab_size + train_targets, return_counts=True)
        types = np.unique(pairs // vocab_size, return_counts=True)[1]  # aligned with `contexts`
        seen = _lookup(contexts, context_counts, query_code)
        distinct = _lookup(contexts, types, query_code)
        joint = _lookup(pairs, pair_counts, query_code * vocab_size + query_targets)
        probs = np.where(seen > 0, (joint + distinct * probs) / np.maximum(seen + distinct, 1), probs)
    return np.log(probs)


def shifted_histories(inputs: np.ndarray, order: int, sentinel: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Histories of the positions of ``(B, T)`` model inputs: shape (N, order - 1), oldest first.

    The last column is ``inputs`` itself (the id a model is fed to predict the target at
    that position); column ``-k`` holds the input ``k - 1`` steps earlier in the same row,
    ``sentinel`` before the row starts (where a model starts from a zero state). Rows are
    read in order; ``keep``, a (B, T) mask, selects the positions (all by default).
    """
    inputs = np.asarray(inputs, dtype=np.int64)
    keep = np.ones(inputs.shape, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    columns = [np.pad(inputs, ((0, 0), (lag, 0)), constant_values=sentinel)[:, : inputs.shape[1]][keep]
               for lag in range(order - 2, -1, -1)]
    return np.stack(columns).T if columns else np.zeros((int(keep.sum()), 0), dtype=np.int64)  # column-major


def sentence_histories(ids: np.ndarray, offsets: np.ndarray, order: int, start: int, sentinel: int) -> np.ndarray:
    """Histories of every id of end-to-end sentences: shape (N, order - 1), oldest first.

    Sentence :math:`i` is ``ids[offsets[i]:offsets[i + 1]]``. Each sentence is read as if
    preceded by ``..., sentinel, sentinel, start``: the history of its first id is ``start``
    (the first input of a model fed from a start symbol), and ``sentinel`` fills the
    positions before that (where such a model has only its zero initial state).
    """
    ids, offsets = np.asarray(ids, dtype=np.int64), np.asarray(offsets, dtype=np.int64)
    position = np.arange(len(ids)) - np.repeat(offsets[:-1], np.diff(offsets))  # within its sentence
    columns = []
    for lag in range(order - 1, 0, -1):
        column = np.concatenate([np.full(min(lag, len(ids)), sentinel, dtype=np.int64), ids[:-lag]])
        column[position == lag - 1] = start
        column[position < lag - 1] = sentinel
        columns.append(column)
    return np.stack(columns).T if columns else np.zeros((len(ids), 0), dtype=np.int64)  # column-major


def class_prior_metrics(train_labels: np.ndarray, val_labels: np.ndarray, num_classes: int,
                        k: int = 5) -> dict[str, float]:
    r"""Errors and cross-entropy on V of the shard's class prior.

    .. math::

        \text{top1\_error} = \frac{1}{n_V}\sum_{i \in V} 1[y_i \ne r_1], \quad
        \text{topk\_error} = \frac{1}{n_V}\sum_{i \in V} 1[y_i \notin \{r_1, \dots, r_k\}], \quad
        \text{cross\_entropy} = -\frac{1}{n_V}\sum_{i \in V} \ln \frac{c_{y_i} + 1}{n + C},

    with :math:`r_1, r_2, \dots` the classes by decreasing shard count :math:`c` (ties to the
    lowest id), :math:`n` the shard size and :math:`C` = ``num_classes``.
    """
    train_labels = np.asarray(train_labels, dtype=np.int64)
    val_labels = np.asarray(val_labels, dtype=np.int64)
    counts = np.bincount(train_labels, minlength=num_classes)
    ranking = np.argsort(-counts, kind="stable")
    prior = (counts + 1.0) / (len(train_labels) + num_classes)
    return {"top1_error": float(np.mean(val_labels != ranking[0])),
            "topk_error": float(np.mean(~np.isin(val_labels, ranking[:k]))),
            "cross_entropy": float(-np.mean(np.log(prior[val_labels])))}


def _as_columns(history) -> np.ndarray:
    """``history`` as an int64 array of shape (N, width); a 1-D array is one column."""
    history = np.asarray(history, dtype=np.int64)
    return history[:, None] if history.ndim == 1 else history


def _codes(history: np.ndarray, base: int) -> np.ndarray:
    """One integer per row of ``history``: its ids as digits in base ``base``."""
    code = np.zeros(len(history), dtype=np.int64)
    for column in history.T:
        code = code * base + column
    return code


def _lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``values`` of the sorted, unique ``keys`` at ``queries`` (0 where a query is absent)."""
    at = np.minimum(np.searchsorted(keys, queries), max(len(keys) - 1, 0))
    found = (keys[at] == queries) if len(keys) else np.zeros(len(queries), dtype=bool)
    return np.where(found, values[at] if len(keys) else 0, 0).astype(np.float64)
