"""Stacked trials: each member's stored result is the one its lone trial would have had."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import torch

from scaling_core.sweep.executors import LocalExecutor, local_executor
from scaling_core.sweep.graphs import _shape_key
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.stack_trainer import stack_batches, train_stack
from scaling_core.sweep.store import Store
from scaling_core.sweep.task import TaskSpec
from scaling_core.sweep.trainer import TrainerSettings, train_trial
from scaling_core.sweep.trial import Trial
from scaling_core.sweep.worker import stack_groups
from scaling_core.tasks.language import make_char_lm_task
from scaling_core.tasks.mnist1d import mnist1d_task

SETTINGS = TrainerSettings(max_epochs=4, max_steps=30, patience=2, min_eval_steps=5, grad_clip=1.0)


def _trials(family, size, draws, batch_size, optimizer):
    return [Trial(family, size, lr, batch_size, optimizer=optimizer, trial_seed=seed, settings=SETTINGS)
            for lr, seed in draws]


def _alone_and_stacked(task, shards, trials):
    alone = []
    for k, trial in enumerate(trials):
        torch.manual_seed(100 + k)
        alone.append(train_trial(task, task.build_model(trial.family, trial.size), shards[k], trial, "cpu"))
    models = []
    for k, trial in enumerate(trials):
        torch.manual_seed(100 + k)
        models.append(task.build_model(trial.family, trial.size))
    return alone, train_stack(task, models, shards, trials, "cpu")


def _assert_same(alone, stacked, rel=1e-4):
    for a, b in zip(alone, stacked):
        assert (a.status, a.steps, a.best_step, a.stop_reason, a.improving) == \
            (b.status, b.steps, b.best_step, b.stop_reason, b.improving)
        assert a.metrics.keys() == b.metrics.keys()
        for name in a.metrics:
            assert b.metrics[name] == pytest.approx(a.metrics[name], rel=rel, abs=1e-6), name
        assert [r["step"] for r in a.history] == [r["step"] for r in b.history]


def test_a_stack_of_mlps_matches_the_trials_trained_alone():
    task = mnist1d_task(1200, 300, seed=0, search_metric="val_loss")
    trials = _trials("mlp", 16, ((0.01, 1), (0.05, 2), (0.2, 3)), 32, "nesterov")
    shards = [np.arange(192), np.arange(384), np.arange(384)]  # shards and schedules may differ (whole batches)
    alone, stacked = _alone_and_stacked(task, shards, trials)
    assert {r.stop_reason for r in alone} <= {"early_stop", "max_steps", "max_epochs"}
    _assert_same(alone, stacked)


def test_a_stack_of_recurrent_highway_networks_matches_the_trials_trained_alone():
    task = make_char_lm_task("kjv", seed=0, val_units=400)
    trials = _trials("rhn3", 8, ((1e-2, 1), (3e-2, 2)), 8, "adam")
    shards = [np.arange(48), np.arange(80)]  # different widths per batch: the task pads them to stack
    alone, stacked = _alone_and_stacked(task, shards, trials)
    _assert_same(alone, stacked)


def test_stack_batches_needs_equal_shapes_and_structures():
    a = (torch.zeros(4, 3), torch.zeros(4))
    stacked = stack_batches([a, a])
    assert stacked[0].shape == (2, 4, 3) and stacked[1].shape == (2, 4)
    with pytest.raises(ValueError, match="parameter 'batches'.*shapes"):
        stack_batches([a, (torch.zeros(2, 3), torch.zeros(2))])
    with pytest.raises(ValueError, match="parameter 'batches'.*structure"):
        stack_batches([a, [torch.zeros(4, 3), torch.zeros(4)]])


def test_train_stack_rejects_mixed_optimizers_or_batch_sizes():
    task = mnist1d_task(200, 100, seed=0)
    models = [task.build_model("mlp", 4) for _ in range(2)]
    shards = [np.arange(64)] * 2
    with pytest.raises(ValueError, match="parameter 'trials'"):
        train_stack(task, models, shards, [Trial("mlp", 4, 0.1, 8), Trial("mlp", 4, 0.1, 16, trial_seed=1)])


def _job(key, size=8.0, lr=0.1, shard_length=64, batch_size=16):
    return Trial(key=key, task=TaskSpec("scaling_core.tasks.mnist1d:mnist1d_task", {"n_train": 256}),
                    family="mlp", size=size, lr=lr, batch_size=batch_size, trial_seed=1, shard_seed=0,
                    shard_length=shard_length)


def test_stack_groups_joins_trials_that_differ_only_in_learning_rate_and_seed():
    jobs = [_job("a", lr=0.1), _job("b", size=16.0), _job("c", lr=0.2), _job("d", shard_length=128),
            _job("e", lr=0.3), _job("f", batch_size=32)]
    groups = stack_groups(jobs, max_members=2)
    assert [[j.key for j in g] for g in groups] == [["a", "c"], ["b"], ["d"], ["e"], ["f"]]
    assert [len(g) for g in stack_groups(jobs, 1)] == [1] * 6


def _sweep(name):
    return SweepSpec.from_dict({
        "name": name, "seed": 0,
        "task": {"factory": "scaling_core.tasks.mnist1d:mnist1d_task",
                 "kwargs": {"n_train": 512, "n_val": 200, "search_metric": "val_loss"}},
        "shard_sizes": [128, 256],
        "searches": [{"family": "mlp", "grid": [8, 16], "growth": [0.0, 1.0], "samples": 3,
                      "lr_range": [0.003, 0.03], "batch_sizes": [32]}],
        "trainer": {"max_epochs": 6, "patience": 2, "min_eval_steps": 4},
    })


def test_a_stacked_sweep_stores_what_the_one_at_a_time_sweep_stores(tmp_path):
    alone = run_sweep(_sweep("demo"), tmp_path / "alone.sqlite", LocalExecutor(), progress=False)
    stacked = run_sweep(_sweep("demo"), tmp_path / "stacked.sqlite", LocalExecutor(stack=3), progress=False)
    assert list(alone["key"]) == list(stacked["key"])
    assert stacked["device"].str.endswith("x3").all()  # every trial trained in a stack of three
    np.testing.assert_allclose(stacked["val_loss"], alone["val_loss"], rtol=1e-4)
    assert list(stacked["stop_reason"]) == list(alone["stop_reason"])
    assert set(alone["stop_reason"]) <= {"early_stop", "max_epochs"}


def test_stop_reasons_and_improving_are_stored_and_old_stores_gain_the_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # a store from before the stop-reason columns
        db.execute("CREATE TABLE trials (key TEXT PRIMARY KEY, sweep TEXT, task TEXT, unit TEXT, shard INTEGER, "
                   "shard_units REAL, shard_examples INTEGER, family TEXT, size REAL, lr REAL, batch_size INTEGER, "
                   "sample INTEGER, seed INTEGER, trial_seed INTEGER, config TEXT, code_version TEXT, "
                   "git_commit TEXT, fingerprint TEXT, status TEXT NOT NULL DEFAULT 'pending', reason TEXT, "
                   "starts INTEGER NOT NULL DEFAULT 0, num_params INTEGER, metrics TEXT, train_loss REAL, "
                   "best_step INTEGER, best_epoch REAL, steps INTEGER, epochs REAL, history TEXT, wall_time REAL, "
                   "device TEXT, created_at REAL, started_at REAL, finished_at REAL)")
        db.execute("INSERT INTO trials (key, sweep, status, metrics) VALUES ('old', 'demo', 'done', '{}')")
    with Store(path) as store:
        assert store.to_frame()["stop_reason"].isna().all()  # read as missing, not an error
        frame = run_sweep(_sweep("demo"), store, LocalExecutor(), progress=False)
    assert frame["stop_reason"].notna().all() and frame["improving"].isin([0, 1]).all()


def test_gpu_executors_stack_and_cpu_executors_do_not():
    assert local_executor("cpu", workers=64).stack == 1
    assert local_executor("cpu", workers=64).workers <= (__import__("os").cpu_count() or 1)
    gpu = local_executor("cuda", workers=64, trials_per_device=3)
    assert gpu.workers == 3 and gpu.stack > 1
    with pytest.raises(ValueError, match="parameter 'stack'"):
        LocalExecutor(stack=0)


def test_graph_keys_tell_batch_shapes_apart_and_refuse_other_leaves():
    a = [torch.zeros(4, 3), None, torch.zeros(4, dtype=torch.long)]
    assert _shape_key(a) == _shape_key([torch.ones(4, 3), None, torch.ones(4, dtype=torch.long)])
    assert _shape_key(a) != _shape_key([torch.zeros(2, 3), None, torch.zeros(2, dtype=torch.long)])
    assert _shape_key([torch.zeros(2), "text"]) is None
