"""Stores written before portable trial identity are brought up to date with their keys kept."""

from __future__ import annotations

import json
import sqlite3

import pytest
import torch

from scaling_core.experiments import contract, methodology
from scaling_core.sweep.migrate import migrate_store
from scaling_core.sweep.records import completed_record
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.store import Store
from scaling_core.sweep.task import TaskSpec


@pytest.fixture
def old_store(tmp_path, monkeypatch):
    """A methodology smoke store whose record and rows look as the first stores did."""
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path / "results"))
    torch.set_num_threads(1)
    config = contract.configure("methodology", "smoke")
    (spec,) = methodology.sweep_specs(config)
    path = methodology.store(config)
    trials = run_sweep(spec, path, progress=False)
    old_spec = spec.to_dict()
    old_spec["task"]["kwargs"] = {**old_spec["task"]["kwargs"], "profile": "smoke", "families": {"mlp": [8]}}
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sweeps SET spec = ?", (json.dumps({"spec": json.dumps(old_spec),
                                                              "keys": trials["key"].tolist()}),))
        db.execute("UPDATE trials SET config_key = NULL")
        db.execute("DELETE FROM memberships")
        db.execute("DELETE FROM code_versions")
    return path, spec, trials


def test_an_old_record_is_migrated_and_its_trials_keep_their_keys(old_store, monkeypatch):
    path, spec, trials = old_store
    with Store(path) as store:
        assert completed_record(store, spec) is None  # today's spec no longer matches the old record
    assert migrate_store(path, log=lambda _: None) == {spec.name: f"migrated: {len(trials)} trials keep their keys"}
    with Store(path) as store:
        record = completed_record(store, spec)
        assert record is not None and record["keys"] == trials["key"].tolist()
        assert record["migrated"]["from_task_kwargs"]["profile"] == "smoke"
        assert store.to_frame()["config_key"].notna().all()

    def no_training(self):
        raise AssertionError("the migrated sweep was trained again")

    monkeypatch.setattr(TaskSpec, "build", no_training)
    again = run_sweep(spec, path, progress=False)
    assert again["key"].tolist() == trials["key"].tolist()


def test_a_record_whose_data_would_differ_is_kept_as_it_is(old_store):
    path, spec, _ = old_store
    with sqlite3.connect(path) as db:
        record = json.loads(db.execute("SELECT spec FROM sweeps").fetchone()[0])
        old = json.loads(record["spec"])
        old["task"]["kwargs"]["n_val"] += 1  # another validation set: not the same sweep
        record["spec"] = json.dumps(old)
        db.execute("UPDATE sweeps SET spec = ?", (json.dumps(record),))
    assert migrate_store(path, log=lambda _: None)[spec.name] == "kept: a task argument changed value"
