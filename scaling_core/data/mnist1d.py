"""MNIST-1D, generated offline in any quantity.

MNIST-1D (Greydanus, 2020) turns the ten digit templates into 40-sample 1-D signals
by random padding, translation, scaling, shear and correlated noise. The package
``mnist1d`` generates any number of samples locally with ``make_dataset``; this
module never calls ``get_dataset``, which downloads.

``make_dataset`` standardises each generated set with its own mean and standard
deviation, so the training and validation examples must come from ONE call: we
generate a single pool and split it.
"""

from __future__ import annotations

import functools
import random

import numpy as np

from scaling_core.paths import cache_dir

NUM_CLASSES = 10
"""The ten digits."""

SIGNAL_LENGTH = 40
"""Samples per signal (``final_seq_length`` of the default arguments)."""


def mnist1d_pool(
    n_train: int, n_val: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Generate ``n_train + n_val`` MNIST-1D examples and split them.

    Parameters
    ----------
    n_train, n_val : int
        Number of training and validation examples (positive).
    seed : int
        Seed of the generator; the same arguments always give the same arrays.

    Returns
    -------
    x_train : ndarray, shape (n_train, 40), float32
    y_train : ndarray, shape (n_train,), int64
    x_val : ndarray, shape (n_val, 40), float32
    y_val : ndarray, shape (n_val,), int64

    Notes
    -----
    The pool holds ``ceil((n_train + n_val) / 10) * 10`` examples, an equal number
    per class, in the generator's shuffled order; the first ``n_train`` are the
    training set and the next ``n_val`` the validation set, so the two are disjoint.
    Results are cached on disk under ``cache_dir("mnist1d")``.
    """
    for name, value in (("n_train", n_train), ("n_val", n_val)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"parameter {name!r} got {value!r}; allowed: a positive integer")
    x, y = _cached_pool(int(n_train) + int(n_val), int(seed))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


@functools.lru_cache(maxsize=4)
def _cached_pool(n_total: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The pool of at least ``n_total`` examples, from disk when generated before."""
    path = cache_dir("mnist1d") / f"pool-{n_total}-{seed}.npz"
    if path.exists():
        with np.load(path) as saved:
            return saved["x"], saved["y"]
    x, y = _generate(n_total, seed)
    tmp = path.with_suffix(f".{np.random.default_rng().integers(1 << 30)}.tmp.npz")
    np.savez(tmp, x=x, y=y)
    tmp.replace(path)
    return x, y


def _generate(n_total: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Call ``make_dataset`` once, leaving the global random states as they were."""
    from mnist1d.data import get_dataset_args, make_dataset  # slow import (matplotlib, scipy)

    args = get_dataset_args()
    args.num_samples = -(-n_total // NUM_CLASSES) * NUM_CLASSES  # whole examples per class
    args.train_split = 1.0
    args.seed = seed
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    x = data["x"][:n_total].astype(np.float32)
    y = data["y"][:n_total].astype(np.int64)
    return x, y
