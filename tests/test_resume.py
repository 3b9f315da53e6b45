"""Resume: a sweep killed with SIGKILL and rerun ends with the uninterrupted table."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
import yaml

from scaling_core.sweep.budget import DEADLINE_ENV, TimeBudgetExceeded, current_deadline, time_budget
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.store import Store
from scaling_core.sweep.task import TaskSpec

CONFIG = {
    "name": "resume",
    "seed": 1,
    "task": {"factory": "scaling_core.tasks.mnist1d:mnist1d_task",
             "kwargs": {"n_train": 400, "n_val": 200}},
    "shard_sizes": {"min_units": 50, "max_units": 200},
    "searches": [{"family": "mlp", "grid": [4, 8, 16, 32], "growth": [0.0, 0.5, 1.0], "samples": 1}],
    "trainer": {"max_epochs": 8, "patience": 2, "min_eval_steps": 2},
}
VOLATILE = ["wall_time", "created_at", "started_at", "finished_at", "starts", "git_commit"]
"""Timings, start counts and the HEAD commit of the moment (recorded, not part of a trial)."""


def _command(config_path, store_path):
    return [sys.executable, "-m", "scaling_core.sweep.cli", "run", str(config_path),
            "--store", str(store_path), "--quiet"]


def _done(store_path) -> int:
    try:
        with sqlite3.connect(store_path, timeout=5) as db:
            return db.execute("SELECT count(*) FROM trials WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def _table(store_path) -> pd.DataFrame:
    with Store(store_path) as store:
        frame = store.to_frame(history=True)
    return frame.sort_values("key").reset_index(drop=True)


def _kill_after(config_path, store_path, trials: int) -> int:
    process = subprocess.Popen(_command(config_path, store_path))
    deadline = time.monotonic() + 120
    while _done(store_path) < trials and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    return process.wait()


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_uninterrupted_table(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    torch.set_num_threads(1)  # as the command line's default --threads 1
    run_sweep(SweepSpec.from_dict(CONFIG), tmp_path / "reference.sqlite", progress=False)
    reference = _table(tmp_path / "reference.sqlite")
    assert len(reference) == 10 and (reference["status"] == "done").all()

    store = tmp_path / "resumed.sqlite"
    assert _kill_after(config, store, trials=2) == -signal.SIGKILL, "the sweep ended before the kill"
    before = _table(store)
    finished_before = before[before["status"] == "done"].set_index("key")["finished_at"]
    assert 2 <= len(finished_before) < len(reference)

    subprocess.run(_command(config, store), check=True)
    resumed = _table(store)
    pd.testing.assert_frame_equal(resumed.drop(columns=VOLATILE), reference.drop(columns=VOLATILE),
                                  check_exact=True)
    again = resumed.set_index("key").loc[finished_before.index]
    assert (again["starts"] == 1).all()  # nothing finished ran twice
    assert again["finished_at"].equals(finished_before)
    assert resumed["starts"].max() <= 2 and (resumed["starts"] == 2).sum() <= 1  # the killed one


def test_a_completed_sweep_is_only_read(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    spec = SweepSpec.from_dict({**CONFIG, "shard_sizes": [50, 100],
                                "trainer": {"max_epochs": 2, "patience": 1, "min_eval_steps": 2}})
    first = run_sweep(spec, tmp_path / "s.sqlite", progress=False)

    def no_training(self):
        raise AssertionError("the task was built: the sweep trained instead of reading")

    monkeypatch.setattr(TaskSpec, "build", no_training)
    again = run_sweep(spec, tmp_path / "s.sqlite", progress=False)
    pd.testing.assert_frame_equal(first, again)


def test_a_changed_config_makes_new_trials(tmp_path):
    torch.set_num_threads(1)
    base = {**CONFIG, "shard_sizes": [50], "searches": [{"family": "mlp", "grid": [4, 8], "samples": 1}]}
    first = run_sweep(SweepSpec.from_dict({**base, "trainer": {"max_epochs": 1, "min_eval_steps": 2}}),
                      tmp_path / "s.sqlite", progress=False)
    changed = run_sweep(SweepSpec.from_dict({**base, "trainer": {"max_epochs": 2, "min_eval_steps": 2}}),
                        tmp_path / "s.sqlite", progress=False)
    assert not set(first["key"]) & set(changed["key"])
    assert (changed["starts"] == 1).all() and len(changed) == 2
    with Store(tmp_path / "s.sqlite") as store:
        assert len(store.to_frame()) == 4  # the old trials are kept, not overwritten


@pytest.mark.parametrize("bad, match", [
    ({"shard_sizes": [100, 50]}, "shard_sizes"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"trainer": {"patience": -1}}, "patience"),
])
def test_bad_sweep_configs_are_one_line_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        SweepSpec.from_dict({**CONFIG, **bad})


def test_a_time_budget_stops_cleanly_and_the_next_run_resumes_to_the_same_table(tmp_path):
    torch.set_num_threads(1)
    spec = SweepSpec.from_dict(CONFIG)
    started = time.time()
    run_sweep(spec, tmp_path / "reference.sqlite", progress=False)
    reference = _table(tmp_path / "reference.sqlite")
    budget = 0.4 * (time.time() - started)

    store = tmp_path / "budget.sqlite"
    with pytest.raises(TimeBudgetExceeded, match="run it again to resume"):
        with time_budget(budget):
            run_sweep(spec, store, progress=False)
    cut = _table(store)
    # cut inside a shard, its running trials went back to pending; cut between shards, the
    # later shards were never planned: either way nothing unfinished is stored as a result
    assert set(cut["status"]) <= {"done", "pending"}
    assert (cut["status"] == "done").sum() < len(reference)
    with Store(store) as opened:
        assert opened.completed_spec(spec.name) is None  # a cut sweep is not complete

    run_sweep(spec, store, progress=False)
    resumed = _table(store)
    pd.testing.assert_frame_equal(resumed.drop(columns=VOLATILE), reference.drop(columns=VOLATILE),
                                  check_exact=True)


def test_time_budgets_reject_bad_values_and_reach_child_processes(monkeypatch):
    with pytest.raises(ValueError, match="parameter 'time_budget'"):
        with time_budget(-5):
            pass
    monkeypatch.delenv(DEADLINE_ENV, raising=False)
    with time_budget(60) as deadline:
        assert float(os.environ[DEADLINE_ENV]) == deadline == current_deadline()
    assert DEADLINE_ENV not in os.environ and current_deadline() is None
    monkeypatch.setenv(DEADLINE_ENV, "soon")
    with pytest.raises(ValueError, match=DEADLINE_ENV):
        current_deadline()
