"""Input checks shared by every fit: one clear ``ValueError`` per problem, never a silent NaN fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CurveData:
    """A checked learning curve.

    Attributes
    ----------
    sizes : ndarray, shape (n_points, n_axes)
        Positive sizes (training-set size ``m``; for joint fits also model size ``n``).
    eps : ndarray, shape (n_points,)
        Positive errors or losses.
    weights : ndarray, shape (n_points,)
        Non-negative weights of the per-point losses (ones when none are given).
    repeats : ndarray or None, shape (n_points,)
        Repeat (seed) label of each point, when the curve records repeats per size.
    """

    sizes: np.ndarray
    eps: np.ndarray
    weights: np.ndarray
    repeats: np.ndarray | None

    @property
    def n_points(self) -> int:
        return len(self.eps)

    def shard_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct sizes, shape (n_shards, n_axes), and the shard index of each point."""
        distinct, index = np.unique(self.sizes, axis=0, return_inverse=True)
        return distinct, index.reshape(-1)

    def shard_means(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct sizes and the weighted mean error at each one."""
        distinct, index = self.shard_groups()
        totals = np.bincount(index, weights=self.weights * self.eps)
        return distinct, totals / np.bincount(index, weights=self.weights)


def _as_float_vector(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf at positions {np.flatnonzero(~np.isfinite(array))[:5].tolist()}")
    return array


def _check_positive(name: str, array: np.ndarray) -> None:
    bad = np.flatnonzero(array <= 0)
    if bad.size:
        raise ValueError(f"{name} must be > 0; got {array[bad[0]]!r} at position {bad[0]}")


def check_curve(sizes: dict, eps, weights=None, repeats=None, n_params: int = 1) -> CurveData:
    """Validate a curve and return it as :class:`CurveData`.

    Parameters
    ----------
    sizes : dict of str -> array-like
        The size axes by name (e.g. ``{"m": m}`` or ``{"m": m, "n": n}``).
    eps : array-like
        Errors, one per point, all finite and positive.
    weights : array-like, optional
        Non-negative finite weights, not all zero.
    repeats : array-like, optional
        Repeat labels; required when a size appears more than once.
    n_params : int
        Number of fitted parameters: the curve needs at least this many distinct sizes.

    Raises
    ------
    ValueError
        On NaN/inf, non-positive sizes or errors, mismatched lengths, too few distinct
        sizes, or duplicated sizes without ``repeats``.
    """
    eps = _as_float_vector("eps", eps)
    _check_positive("eps", eps)
    columns = []
    for name, values in sizes.items():
        axis = _as_float_vector(name, values)
        if len(axis) != len(eps):
            raise ValueError(f"{name} has {len(axis)} values but eps has {len(eps)}; lengths must match")
        _check_positive(name, axis)
        columns.append(axis)
    stacked = np.column_stack(columns)
    weights = _check_weights(weights, len(eps))
    repeats = _check_repeats(repeats, stacked, len(eps))
    n_distinct = len(np.unique(stacked, axis=0))
    if n_distinct < n_params:
        raise ValueError(f"need at least {n_params} distinct sizes to fit {n_params} parameters; got {n_distinct}")
    return CurveData(stacked, eps, weights, repeats)


def _check_weights(weights, n_points: int) -> np.ndarray:
    if weights is None:
        return np.ones(n_points)
    weights = _as_float_vector("weights", weights)
    if len(weights) != n_points:
        raise ValueError(f"weights has {len(weights)} values but eps has {n_points}; lengths must match")
    if np.any(weights < 0) or not np.any(weights > 0):
        raise ValueError("weights must be >= 0 and not all zero")
    return weights


def _check_repeats(repeats, sizes: np.ndarray, n_points: int) -> np.ndarray | None:
    if repeats is None:
        if len(np.unique(sizes, axis=0)) < n_points:
            raise ValueError("sizes contain duplicates; pass repeats= (a seed label per point) to fit repeated runs")
        return None
    repeats = np.asarray(repeats)
    if repeats.shape != (n_points,):
        raise ValueError(f"repeats must have one label per point ({n_points}); got shape {repeats.shape}")
    pairs = np.column_stack([sizes, np.unique(repeats, return_inverse=True)[1].reshape(-1, 1)])
    if len(np.unique(pairs, axis=0)) < n_points:
        raise ValueError("repeats labels a size twice with the same label; each (size, repeat) pair must be unique")
    return repeats
