"""The SQLite results store and trial keys."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from scaling_core.sweep.keys import code_version, source_files, trial_key, trial_seed
from scaling_core.sweep.store import Store


def _row(key, shard=0, size=8.0, **extra):
    return {"key": key, "sweep": "s", "task": "toy", "unit": "samples", "shard": shard,
            "shard_units": 100.0 * (shard + 1), "shard_examples": 100 * (shard + 1),
            "family": "mlp", "size": size, "lr": 1e-3, "batch_size": 32, "sample": 0, "seed": 0,
            "trial_seed": 7, "config": {"size": size, "shard": shard}, "code_version": "c",
            "git_commit": None, "fingerprint": "f", **extra}


def _outcome(error):
    return {"status": "done", "metrics": {"val_error": error, "val_loss": 2 * error},
            "train_loss": 0.1, "num_params": 100, "steps": 10, "epochs": 2.5, "wall_time": 0.5,
            "device": "cpu", "history": [{"step": 10, "val_error": error}]}


def test_trials_round_trip_with_one_column_per_metric(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.add([_row("a"), _row("b", shard=1, size=16.0)])
        store.start("a", "cpu")
        store.finish("a", _outcome(0.25))
        frame = store.to_frame()
        assert frame["key"].tolist() == ["a", "b"]
        assert frame["status"].tolist() == ["done", "pending"]
        assert frame.loc[0, "val_error"] == 0.25 and frame.loc[0, "val_loss"] == 0.5
        assert frame.loc[0, "starts"] == 1 and frame.loc[1, "starts"] == 0
        assert frame.loc[1, "shard_units"] == 200.0
        assert store.history("a")["val_error"].tolist() == [0.25]
        assert "history" not in frame and store.to_frame(history=True).loc[0, "history"]


def test_adding_a_stored_key_again_keeps_its_results(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.add([_row("a")])
        store.finish("a", _outcome(0.3))
        store.add([_row("a"), _row("c")])
        assert store.statuses(["a", "c", "missing"]) == {"a": "done", "c": "pending"}


def test_failed_trials_keep_their_reason(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.add([_row("a")])
        store.finish("a", {"status": "failed", "reason": "non-finite training loss nan at step 3"})
        frame = store.to_frame()
        assert frame.loc[0, "reason"].startswith("non-finite")
        with pytest.raises(ValueError, match="status"):
            store.finish("a", {"status": "running"})


def test_store_is_in_wal_mode_and_records_completed_sweeps(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.mark_complete("s", '{"spec": 1}')
        assert store.completed_spec("s") == '{"spec": 1}'
        assert store.completed_spec("other") is None
    mode = sqlite3.connect(tmp_path / "s.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def _writer(path, prefix, count, go):
    go.wait()
    with Store(path, timeout=60) as store:
        for i in range(count):
            key = f"{prefix}{i}"
            store.add([_row(key, size=float(i))])
            store.start(key, "cpu")
            store.finish(key, _outcome(i / count))
            store.to_frame()  # readers alongside the other writer


def test_two_processes_writing_one_store_do_not_corrupt_it(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    context = multiprocessing.get_context("fork")  # fresh connections; no re-import of torch
    go = context.Event()
    writers = [context.Process(target=_writer, args=(path, p, 200, go)) for p in ("x", "y")]
    for w in writers:
        w.start()
    go.set()
    for w in writers:
        w.join(timeout=120)
        assert w.exitcode == 0
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Store(path) as store:
        frame = store.to_frame()
    assert len(frame) == 400 and (frame["status"] == "done").all() and (frame["starts"] == 1).all()
    writer_order = frame.sort_values("created_at")["key"].str[0]
    assert (writer_order != writer_order.shift()).sum() > 10  # the writers really interleaved


def test_trial_key_changes_with_config_code_and_data():
    config = {"family": "mlp", "size": 8, "lr": 1e-3}
    key = trial_key(config, "code", "data")
    assert key == trial_key(dict(reversed(list(config.items()))), "code", "data")
    assert key != trial_key({**config, "size": 16}, "code", "data")
    assert key != trial_key(config, "code2", "data")
    assert key != trial_key(config, "code", "data2")
    assert 0 <= trial_seed(key) < 2**31


def test_code_version_hashes_the_training_code_path_only():
    files = {p.relative_to(p.parents[1]).as_posix() for p in source_files("scaling_core.tasks.mnist1d")}
    assert {"sweep/trainer.py", "sweep/worker.py", "tasks/mnist1d.py", "data/mnist1d.py"} <= files
    assert not {"sweep/cli.py", "sweep/store.py", "sweep/run.py"} & files
    assert code_version("scaling_core.tasks.mnist1d") == code_version("scaling_core.tasks.mnist1d")
    assert code_version("scaling_core.tasks.mnist1d") != code_version()
