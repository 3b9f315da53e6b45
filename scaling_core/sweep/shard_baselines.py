r"""Trivial predictors on every shard of a sweep, scored on V: what a learning curve must beat.

A curve is read as learning only where it is clearly below the best of these (see
:mod:`scaling_core.experiments.verdicts`). A task that defines
``baselines(indices) -> {name: {metric: value}}`` (unigram and bigram for words, character
n-grams, the class prior, an empty transcript, the most frequent output ...) has them
computed on each nested shard :math:`T_k` of the sweep:

.. math:: b_k = \text{metric}_V\big(\hat p_{T_k}\big),

with :math:`\hat p_{T_k}` the trivial predictor estimated from :math:`T_k`. They are kept in
the store's ``baselines`` table beside the trials, so a chapter reads them without
building its task; they are computed once, when a sweep finishes or when first asked for.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from scaling_core.data.shards import nested_shards
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.store import Store
from scaling_core.sweep.task import example_order

COLUMNS = ["shard", "shard_units", "baseline", "metric", "value"]


def spec_key(spec: SweepSpec) -> str:
    """A short hash of the spec's identity: baselines of a changed spec are computed afresh."""
    return hashlib.sha256(json.dumps(spec.identity(), sort_keys=True).encode()).hexdigest()[:16]


def compute_baselines(spec: SweepSpec) -> pd.DataFrame:
    """Every baseline of ``spec``'s task on each of its shards (empty if the task defines none)."""
    task = spec.task.build()
    if not hasattr(task, "baselines"):
        return pd.DataFrame(columns=COLUMNS)
    order = example_order(task, spec.seed)
    rows = []
    for shard in nested_shards(task.example_units(), list(spec.shard_sizes), order=order):
        for name, scores in task.baselines(shard.indices).items():
            rows += [{"shard": shard.index, "shard_units": shard.units, "baseline": name, "metric": metric,
                      "value": float(value)} for metric, value in scores.items()]
    return pd.DataFrame(rows, columns=COLUMNS)


def shard_baselines(spec: SweepSpec, store: Store | str | Path) -> pd.DataFrame:
    """The baselines of ``spec`` from ``store``, computed (building its task) and stored if missing.

    Returns
    -------
    pandas.DataFrame
        Columns ``shard``, ``shard_units``, ``baseline``, ``metric``, ``value``: one row per
        shard, baseline and metric.
    """
    opened = store if isinstance(store, Store) else Store(store)
    try:
        key = spec_key(spec)
        frame = opened.baselines(spec.name, key)
        if frame.empty:
            frame = compute_baselines(spec)
            if not frame.empty:
                opened.set_baselines(spec.name, key, frame.to_dict("records"))
        return frame
    finally:
        if opened is not store:
            opened.close()


def best_baseline(baselines: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per shard, the lowest baseline score of ``metric`` and its name (``baseline``, ``baseline_name``).

    The best trivial predictor is the bar: a model that does not beat it has learned nothing
    the shard's counts could not tell.
    """
    rows = baselines[baselines["metric"] == metric]
    if rows.empty:
        return pd.DataFrame(columns=["shard", "baseline", "baseline_name"])
    best = rows.sort_values(["shard", "value", "baseline"]).groupby("shard").head(1)
    return best.rename(columns={"value": "baseline", "baseline": "baseline_name"})[
        ["shard", "baseline", "baseline_name"]].reset_index(drop=True)
