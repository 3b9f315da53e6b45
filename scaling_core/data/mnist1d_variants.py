"""MNIST-1D with generator settings other than the published ones.

:func:`scaling_core.data.mnist1d.mnist1d_pool` draws the published MNIST-1D; this module
draws a pool the same way (one ``make_dataset`` call, standardised as one set, split into
training pool and V, cached on disk) with some of the generator's settings changed, by name
(:data:`VARIANTS`). The image chapter's MNIST-1D profiles use ``"hard"``: with the published
settings its ResNets jump from guessing to about 1 % top-1 error within a decade of data.

The generate-and-cache steps repeat :mod:`scaling_core.data.mnist1d`'s with the settings
changed. They are kept apart on purpose: a trial's code version hashes every module its task
imports, so editing that module would mark every stored MNIST-1D result (the methodology
chapter's) as made by earlier code although none of them would change.
"""

from __future__ import annotations

import functools
import random

import numpy as np

from scaling_core.data.mnist1d import NUM_CLASSES, mnist1d_pool
from scaling_core.paths import cache_dir
from scaling_core.validation import check_choice

VARIANTS = {
    "default": {},
    "hard": dict(shear_scale=1.5, scale_coeff=0.8, corr_noise_scale=0.5, iid_noise_scale=0.05),
}
"""Generator settings that differ from ``get_dataset_args()``, by variant name: ``default`` is
the published MNIST-1D; ``hard`` draws wider shears and scales and stronger noise."""


def published_settings() -> dict:
    """MNIST-1D's published generator settings (``get_dataset_args()``) as a dict."""
    from mnist1d.data import get_dataset_args  # slow import (matplotlib, scipy)

    return dict(vars(get_dataset_args()))


def variant_pool(n_train: int, n_val: int, seed: int = 0, variant: str = "default"):
    """:func:`~scaling_core.data.mnist1d.mnist1d_pool` drawn with the generator settings of ``variant``.

    Parameters
    ----------
    n_train, n_val : int
        Number of training and validation examples (positive).
    seed : int
        Seed of the generator; the same arguments always give the same arrays.
    variant : {"default", "hard"}
        Generator settings, from :data:`VARIANTS`; ``"default"`` is ``mnist1d_pool`` itself.

    Returns
    -------
    x_train, y_train, x_val, y_val : ndarray
        As :func:`~scaling_core.data.mnist1d.mnist1d_pool` returns them.
    """
    check_choice("variant", variant, VARIANTS)
    if variant == "default":
        return mnist1d_pool(n_train, n_val, seed)
    for name, value in (("n_train", n_train), ("n_val", n_val)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"parameter {name!r} got {value!r}; allowed: a positive integer")
    x, y = _cached_pool(int(n_train) + int(n_val), int(seed), variant)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


@functools.lru_cache(maxsize=4)
def _cached_pool(n_total: int, seed: int, variant: str) -> tuple[np.ndarray, np.ndarray]:
    path = cache_dir("mnist1d") / f"pool-{n_total}-{seed}-{variant}.npz"
    if path.exists():
        with np.load(path) as saved:
            return saved["x"], saved["y"]
    x, y = _generate(n_total, seed, VARIANTS[variant])
    tmp = path.with_suffix(f".{np.random.default_rng().integers(1 << 30)}.tmp.npz")
    np.savez(tmp, x=x, y=y)
    tmp.replace(path)
    return x, y


def _generate(n_total: int, seed: int, overrides: dict) -> tuple[np.ndarray, np.ndarray]:
    """Call ``make_dataset`` once with ``overrides``, leaving the global random states as they were."""
    from mnist1d.data import get_dataset_args, make_dataset  # slow import (matplotlib, scipy)

    args = get_dataset_args()
    for name, value in overrides.items():
        setattr(args, name, value)
    args.num_samples = -(-n_total // NUM_CLASSES) * NUM_CLASSES  # whole examples per class
    args.train_split = 1.0
    args.seed = seed
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return data["x"][:n_total].astype(np.float32), data["y"][:n_total].astype(np.int64)
