"""Trial identity: what changes a trial's key, what does not, and stale sweeps."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import torch

from scaling_core.sweep import keys
from scaling_core.sweep.records import staleness
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.search import SearchSpec, plan_shard
from scaling_core.sweep.store import Store

CONFIG = {
    "name": "identity", "seed": 1,
    "task": {"factory": "scaling_core.tasks.mnist1d:mnist1d_task", "kwargs": {"n_train": 300, "n_val": 100}},
    "shard_sizes": [50, 100],
    "searches": [{"family": "mlp", "grid": [4, 8], "growth": [0.0], "samples": 1}],
    "trainer": {"max_epochs": 2, "patience": 1, "min_eval_steps": 2},
}


def test_comments_docstrings_and_layout_do_not_change_a_source_hash():
    source = '"""Module."""\n\ndef f(x):\n    """Doc."""\n    return x + 1\n'
    edited = '"""Another module text."""\n\n\ndef f(x):  # a comment\n    """Other doc."""\n    return (x\n            + 1)\n'
    assert keys.source_hash(source) == keys.source_hash(edited)
    assert keys.source_hash(source) != keys.source_hash(source.replace("x + 1", "x + 2"))


def test_editing_a_model_files_prose_keeps_the_code_version(monkeypatch):
    path = "scaling_core/models/rhn.py"
    module = "scaling_core.tasks.language"
    assert path in keys.code_files(module)
    before = keys.code_version(module)
    original = (keys.PACKAGE_ROOT / path).read_text()
    prose = re.sub(r'"""[^"]*"""', '"""Rewritten."""', original, count=2).replace("\n", "  # note\n", 3)
    code = original.replace("def ", "def _unused():\n    pass\n\n\ndef ", 1)

    def edited(text):
        def read(p):
            return text if p == path else (keys.PACKAGE_ROOT / p).read_text() if (keys.PACKAGE_ROOT / p).is_file() else None
        return read

    for text, same in ((prose, True), (code, False)):
        monkeypatch.setattr(keys, "_READERS", {"": edited(text)})
        monkeypatch.setattr(keys, "_CLOSURES", {})
        assert (keys.code_version(module) == before) is same


def test_a_data_dir_and_the_type_of_a_size_never_change_a_key():
    config = {"task": {"kwargs": {"dataset": "cifar10", "data_dir": "/mnt/a"}}, "size": 8, "lr": 1e-3}
    moved = {"task": {"kwargs": {"dataset": "cifar10", "data_dir": "/home/b/data"}}, "size": 8.0, "lr": 1e-3}
    assert keys.trial_key(config, "c", "f") == keys.trial_key(moved, "c", "f")
    assert keys.trial_key(config, "c", "f") != keys.trial_key({**config, "size": 8.5}, "c", "f")
    spec = SweepSpec.from_dict(CONFIG)
    elsewhere = SweepSpec.from_dict({**CONFIG, "task": {**CONFIG["task"], "kwargs": {
        **CONFIG["task"]["kwargs"], "data_dir": "/elsewhere"}}})
    assert spec.identity() == elsewhere.identity()


def test_adding_a_width_keeps_the_other_trials():
    small = plan_shard(SearchSpec("mlp", grid=(8, 32), samples=2), 0, seed=3)
    grown = plan_shard(SearchSpec("mlp", grid=(8, 16, 32), samples=2), 0, seed=3)
    assert all(trial in grown for trial in small) and len(grown) == 6


def test_adding_a_width_to_a_sweep_keeps_every_stored_trial(tmp_path):
    torch.set_num_threads(1)
    first = run_sweep(SweepSpec.from_dict(CONFIG), tmp_path / "s.sqlite", progress=False)
    wider = {**CONFIG, "searches": [{**CONFIG["searches"][0], "grid": [4, 6, 8]}]}
    second = run_sweep(SweepSpec.from_dict(wider), tmp_path / "s.sqlite", progress=False)
    shard0 = set(first[first["shard"] == 0]["key"])
    assert shard0 < set(second["key"])
    assert (second.set_index("key").loc[list(shard0), "starts"] == 1).all()  # read, not trained again


def test_a_stale_sweep_is_reported_and_read_unless_rerun_is_asked(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    spec = SweepSpec.from_dict(CONFIG)
    store = tmp_path / "s.sqlite"
    first = run_sweep(spec, store, progress=False)
    with Store(store) as opened:
        assert staleness(opened, spec) is None

    files = dict(spec.code_files())
    files["scaling_core/sweep/trainer.py"] = "0" * 16  # today's trainer differs from the one that trained
    monkeypatch.setattr(SweepSpec, "code_files", lambda self: files)
    with Store(store) as opened:
        stale = staleness(opened, spec)
    assert stale is not None and stale.changed == ("scaling_core/sweep/trainer.py",)
    assert stale.stored == first["code_version"].iloc[0] and stale.current == keys.files_version(files)
    assert "scaling_core/sweep/trainer.py" in str(stale)

    def no_training(*args, **kwargs):
        raise AssertionError("a stale sweep was retrained without --rerun-stale")

    monkeypatch.setattr("scaling_core.sweep.run._Sweep._run_jobs", no_training)
    again = run_sweep(spec, store, progress=False)
    pd.testing.assert_frame_equal(again, first)
    monkeypatch.undo()
    monkeypatch.setattr(SweepSpec, "code_files", lambda self: files)
    rerun = run_sweep(spec, store, progress=False, rerun_stale=True)
    assert not set(rerun["key"]) & set(first["key"]) and len(rerun) == len(first)
    with Store(store) as opened:
        assert staleness(opened, spec) is None and len(opened.to_frame()) == 2 * len(first)


def test_a_resumed_sweep_reads_trials_made_by_other_code(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    spec = SweepSpec.from_dict(CONFIG)
    store = tmp_path / "s.sqlite"
    first = run_sweep(spec, store, progress=False)
    with Store(store) as opened:  # as if the sweep had been cut before it completed
        opened._db.execute("DELETE FROM sweeps")
    files = {**spec.code_files(), "scaling_core/sweep/trainer.py": "0" * 16}
    monkeypatch.setattr(SweepSpec, "code_files", lambda self: files)
    resumed = run_sweep(spec, store, progress=False)
    assert set(resumed["key"]) == set(first["key"]) and (resumed["starts"] == 1).all()
    with Store(store) as opened:
        record = json.loads(opened.completed_spec(spec.name))
        assert record["code"] == keys.files_version(files) and staleness(opened, spec) is not None
