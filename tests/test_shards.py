"""Nested shards and the MNIST-1D pool they are drawn from."""

from __future__ import annotations

import random

import numpy as np
import pytest

from scaling_core.data.mnist1d import mnist1d_pool
from scaling_core.data.mnist1d_variants import variant_pool
from scaling_core.validation import ParameterError
from scaling_core.data.shards import nested_shards, shard_sizes
from scaling_core.sweep.task import example_order
from scaling_core.tasks.mnist1d import MNIST1DTask


def test_shard_sizes_double_over_the_span():
    assert shard_sizes(100, 1000) == [100, 200, 400, 800]
    assert shard_sizes(64, 1024) == [64, 128, 256, 512, 1024]
    assert shard_sizes(1, 1000, factor=10) == [1, 10, 100, 1000]
    assert shard_sizes(0.5, 2.0) == pytest.approx([0.5, 1.0, 2.0])


@pytest.mark.parametrize("args, name", [((0, 10), "min_units"), ((10, 5), "max_units"),
                                        ((1, 10, 1), "factor")])
def test_shard_sizes_reject_bad_spans(args, name):
    with pytest.raises(ValueError, match=name):
        shard_sizes(*args)


def test_shards_are_nested_prefixes_of_one_permutation():
    units = np.ones(1000)
    shards = nested_shards(units, [50, 100, 200, 400], seed=3)
    for small, large in zip(shards, shards[1:]):
        assert set(small.indices) < set(large.indices)
    assert [s.length for s in shards] == [50, 100, 200, 400]
    assert sorted(shards[0].order) == list(range(1000))


def test_shards_count_units_not_examples():
    rng = np.random.default_rng(0)
    units = rng.integers(1, 30, size=500)  # e.g. tokens per sentence
    shards = nested_shards(units, [100, 1000, 4000], seed=1)
    for shard in shards:
        assert shard.units == units[shard.indices].sum()
        assert shard.units >= shard.target  # reaches the target ...
        assert units[shard.indices[:-1]].sum() < shard.target  # ... with the shortest prefix


def test_shards_are_deterministic_for_a_seed():
    units = np.ones(300)
    first = nested_shards(units, [10, 20], seed=5)
    again = nested_shards(units, [10, 20], seed=5)
    other = nested_shards(units, [10, 20], seed=6)
    assert np.array_equal(first[1].indices, again[1].indices)
    assert not np.array_equal(first[1].indices, other[1].indices)


def test_caller_order_is_used():
    order = np.arange(99, -1, -1)
    shards = nested_shards(np.ones(100), [5, 10], order=order)
    assert list(shards[0].indices) == [99, 98, 97, 96, 95]


@pytest.mark.parametrize("sizes, order, match", [
    ([10, 200], None, "at most 100"),
    ([20, 10], None, "strictly increasing"),
    ([10], np.zeros(100, dtype=int), "permutation"),
])
def test_nested_shards_reject_bad_input(sizes, order, match):
    with pytest.raises(ValueError, match=match):
        nested_shards(np.ones(100), sizes, order=order)


def test_default_example_order_matches_nested_shards():
    class Plain:
        def example_units(self):
            return np.ones(50)

    shards = nested_shards(np.ones(50), [50], seed=7)
    assert np.array_equal(example_order(Plain(), 7), shards[0].order)


def test_mnist1d_pool_is_deterministic_and_leaves_global_rng_alone():
    random.seed(1)
    np.random.seed(1)
    before = (random.random(), np.random.rand())
    random.seed(1)
    np.random.seed(1)
    x, y, x_val, y_val = mnist1d_pool(300, 100, seed=2)
    assert (random.random(), np.random.rand()) == before
    assert x.shape == (300, 40) and x_val.shape == (100, 40) and y.dtype == np.int64
    again = mnist1d_pool(300, 100, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip((x, y, x_val, y_val), again))


def test_mnist1d_pool_is_one_standardised_set_split_in_two():
    x, y, x_val, y_val = mnist1d_pool(900, 300, seed=0)
    pool = np.concatenate([x, x_val])
    assert abs(pool.mean()) < 1e-4 and abs(pool.std() - 1) < 1e-4
    assert np.bincount(np.concatenate([y, y_val])).tolist() == [120] * 10
    shared = {row.tobytes() for row in x} & {row.tobytes() for row in x_val}
    assert not shared


def test_mnist1d_pool_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_val"):
        mnist1d_pool(10, 0)


def nearest_mean_error(x, y, x_val, y_val) -> float:
    """Validation error of the nearest class mean (a fixed, untuned classifier)."""
    means = np.stack([x[y == k].mean(0) for k in range(10)])
    return float((((x_val[:, None, :] - means[None]) ** 2).sum(-1).argmin(1) != y_val).mean())


def test_hard_mnist1d_variant_is_a_different_harder_standardised_pool():
    default, hard = (variant_pool(2000, 1000, seed=0, variant=v) for v in ("default", "hard"))
    assert all(np.array_equal(a, b) for a, b in zip(default, mnist1d_pool(2000, 1000, seed=0)))
    assert all(np.array_equal(a, b) for a, b in zip(hard, variant_pool(2000, 1000, seed=0, variant="hard")))
    assert not np.array_equal(default[0], hard[0])
    assert abs(hard[0].mean()) < 0.02 and abs(hard[0].std() - 1) < 0.02
    assert nearest_mean_error(*hard) > nearest_mean_error(*default) + 0.05  # measured: 0.816 against 0.715
    with pytest.raises(ParameterError, match="variant"):
        variant_pool(10, 10, variant="easy")
    with pytest.raises(ValueError, match="n_val"):
        variant_pool(10, 0, variant="hard")


def test_mnist1d_order_balances_classes():
    task = MNIST1DTask(n_train=500, n_val=50, seed=0)
    order = task.example_order(seed=4)
    assert sorted(order) == list(range(500))
    labels = task.y.numpy()[order]
    assert sorted(labels[:10]) == list(range(10))
    assert np.bincount(labels[:100]).tolist() == [10] * 10
