"""Shard baselines: computed on every shard when a sweep finishes, stored beside its trials, read back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scaling_core.data.shards import nested_shards
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.search import SearchSpec
from scaling_core.sweep.shard_baselines import best_baseline, shard_baselines, spec_key
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.store import Store
from scaling_core.sweep.task import TaskSpec, example_order
from scaling_core.sweep.trainer import TrainerSettings

MNIST1D = TaskSpec("scaling_core.tasks.mnist1d:mnist1d_task", {"n_train": 400, "n_val": 200})


def _spec(name="base"):
    return SweepSpec(name=name, task=MNIST1D, shard_sizes=(50, 100, 200),
                     searches=(SearchSpec("mlp", grid=(8,), growth=(0.0,), samples=1),),
                     trainer=TrainerSettings(max_epochs=2, patience=1, min_eval_steps=2))


def test_a_finished_sweep_stores_each_shards_baselines_and_reads_them_without_its_task(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    spec, path = _spec(), tmp_path / "s.sqlite"
    run_sweep(spec, path, progress=False)
    with Store(path) as store:
        stored = store.baselines(spec.name, spec_key(spec))
    assert sorted(stored["shard"].unique()) == [0, 1, 2]
    task = spec.task.build()
    shards = nested_shards(task.example_units(), list(spec.shard_sizes), order=example_order(task, spec.seed))
    for shard in shards:
        expected = task.baselines(shard.indices)["class prior"]
        rows = stored[stored["shard"] == shard.index].set_index("metric")["value"]
        assert rows.to_dict() == pytest.approx(expected)
        # by hand: the error of always answering the shard's most frequent class (ties: lowest label)
        majority = np.bincount(task.y.numpy()[shard.indices]).argmax()
        assert expected["val_error"] == pytest.approx(float(np.mean(task.y_val.numpy() != majority)))
    monkeypatch.setattr(TaskSpec, "build", lambda self: (_ for _ in ()).throw(AssertionError("task built")))
    again = shard_baselines(spec, path)  # read from the store, no task
    assert len(again) == len(stored)
    best = best_baseline(again, "val_error")
    assert list(best["baseline_name"].unique()) == ["class prior"] and len(best) == 3


def test_a_task_without_baselines_gives_an_empty_frame(tmp_path, monkeypatch):
    spec = _spec("none")

    class NoBaselines:
        def example_units(self):
            return np.ones(10)

    monkeypatch.setattr(TaskSpec, "build", lambda self: NoBaselines())
    assert shard_baselines(spec, tmp_path / "s.sqlite").empty
