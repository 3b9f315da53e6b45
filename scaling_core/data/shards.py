"""Nested training shards sized in the units a model observes.

The paper trains on nested subsets of one shuffled training set T: each shard
T_k holds T_{k-1} and is about ``factor`` times larger, over two to three orders
of magnitude. A shard here is a prefix of ONE ordering of T (a seeded random
permutation, or an order the caller gives, e.g. class-balanced), so nesting holds
by construction and a shard is fully described by its prefix length.

Sizes count what the model sees (tokens, characters, images, seconds of audio),
so an example contributes ``example_units[i]`` units and a shard's exact size is
the sum over its examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shard:
    """One nested training subset T_k.

    Attributes
    ----------
    index : int
        Position k in the sequence of shards (0 for the smallest).
    length : int
        Number of examples: the shard is ``order[:length]``.
    units : float
        Exact size in the task's units (the sum of its examples' units).
    target : float
        The size asked for; ``units`` is the smallest prefix size reaching it.
    order : ndarray of int
        The ordering of T shared by every shard of the sequence.
    """

    index: int
    length: int
    units: float
    target: float
    order: np.ndarray

    @property
    def indices(self) -> np.ndarray:
        """Indices of the shard's training examples (a prefix of ``order``)."""
        return self.order[: self.length]


def shard_sizes(min_units: float, max_units: float, factor: float = 2.0) -> list[float]:
    r"""Geometric shard sizes :math:`m_k = m_0 f^k` from ``min_units`` up to ``max_units``.

    Parameters
    ----------
    min_units : float
        Size of the smallest shard :math:`m_0` (positive).
    max_units : float
        Upper end of the span; the last size is the largest :math:`m_0 f^k \le` it.
    factor : float
        Growth factor :math:`f > 1` between consecutive shards (the paper uses 2).

    Returns
    -------
    list of float
        Increasing sizes; integers when ``min_units`` and ``factor`` are integers.
    """
    if not min_units > 0:
        raise ValueError(f"parameter 'min_units' got {min_units!r}; allowed: a positive number")
    if not max_units >= min_units:
        raise ValueError(f"parameter 'max_units' got {max_units!r}; allowed: >= min_units ({min_units})")
    if not factor > 1:
        raise ValueError(f"parameter 'factor' got {factor!r}; allowed: a number > 1")
    count = math.floor(math.log(max_units / min_units) / math.log(factor) + 1e-9) + 1
    sizes = [min_units * factor**k for k in range(count)]
    if float(min_units).is_integer() and float(factor).is_integer():
        sizes = [int(s) for s in sizes]
    return sizes


def nested_shards(
    example_units: np.ndarray,
    sizes: list[float],
    seed: int = 0,
    order: np.ndarray | None = None,
) -> list[Shard]:
    r"""Nested shards of a training set, one per target size.

    Shard k is the shortest prefix of ``order`` whose units reach ``sizes[k]``:
    :math:`T_k = \{o_1, \dots, o_{n_k}\}` with
    :math:`n_k = \min\{n : \sum_{i \le n} u_{o_i} \ge m_k\}`.

    Parameters
    ----------
    example_units : array of shape (N,)
        Units each training example contributes (1 for one image, its kept
        token count for a sentence ...).
    sizes : list of float
        Strictly increasing target sizes in units (see :func:`shard_sizes`).
    seed : int
        Seed of the permutation of T when ``order`` is not given.
    order : array of int, optional
        A caller-chosen ordering of the examples (a permutation of ``range(N)``).

    Returns
    -------
    list of Shard
    """
    units = np.asarray(example_units, dtype=float)
    if units.ndim != 1 or len(units) == 0 or (units < 0).any():
        raise ValueError("parameter 'example_units' must be a non-empty 1-D array of units >= 0")
    order = _checked_order(order, len(units)) if order is not None else (
        np.random.default_rng(seed).permutation(len(units))
    )
    _check_sizes(sizes)
    cumulative = np.cumsum(units[order])
    if sizes[-1] > cumulative[-1]:
        raise ValueError(
            f"parameter 'sizes' asks for {sizes[-1]} units; allowed: at most {cumulative[-1]:g}, "
            "the size of the training set"
        )
    lengths = np.searchsorted(cumulative, sizes, side="left") + 1
    return [
        Shard(index=k, length=int(n), units=float(cumulative[n - 1]), target=float(size), order=order)
        for k, (n, size) in enumerate(zip(lengths, sizes))
    ]


def _check_sizes(sizes: list[float]) -> None:
    """Raise unless ``sizes`` is a non-empty, strictly increasing list of positive numbers."""
    values = np.asarray(sizes, dtype=float)
    if values.ndim != 1 or len(values) == 0 or (values <= 0).any() or (np.diff(values) <= 0).any():
        raise ValueError(f"parameter 'sizes' got {sizes!r}; allowed: strictly increasing positive sizes")


def _checked_order(order: np.ndarray, n: int) -> np.ndarray:
    """``order`` as an int array, after checking that it is a permutation of ``range(n)``."""
    order = np.asarray(order)
    if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError(f"parameter 'order' must be a permutation of range({n})")
    return order.astype(np.int64)
