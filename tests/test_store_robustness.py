"""Stores that nothing can poison: damaged or foreign files, read-only checkouts, two writers at once."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import scaling_core.sweep.run as run_module
import scaling_core.sweep.store_file as store_file_module
from scaling_core.experiments.contract import all_sweep_specs, chapter_module, configure
from scaling_core.sweep import cli
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.search import SearchSpec
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.store import Store, StoreError
from scaling_core.sweep.task import TaskSpec
from scaling_core.sweep.trainer import TrainerSettings

ROOT = Path(__file__).resolve().parents[1]
MNIST1D = TaskSpec("scaling_core.tasks.mnist1d:mnist1d_task", {"n_train": 400, "n_val": 200})
TRAINER = TrainerSettings(max_epochs=3, patience=2, min_eval_steps=2)
CHAPTERS = ["image", "methodology", "nmt", "speech", "char_lm", "word_lm"]
"""The chapters with a committed (laptop) store."""
VOLATILE = ["wall_time", "created_at", "started_at", "finished_at", "starts", "git_commit", "device"]


def _spec(name="robust", shards=(50, 100), grid=(4, 8)) -> SweepSpec:
    return SweepSpec(name=name, task=MNIST1D, shard_sizes=shards,
                     searches=(SearchSpec("mlp", grid=grid, growth=(0.5, 1.0), samples=1),), trainer=TRAINER)


def _row(key, task="toy"):
    return {"key": key, "sweep": "s", "task": task, "unit": "samples", "shard": 0, "shard_units": 100.0,
            "shard_examples": 100, "family": "mlp", "size": 8.0, "lr": 1e-3, "batch_size": 32, "sample": 0,
            "seed": 0, "trial_seed": 7, "config": {"size": 8}, "code_version": "c", "git_commit": None,
            "fingerprint": "f"}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _committed(chapter: str, config) -> Path:
    """The chapter's committed store (tests point the results folder elsewhere)."""
    return ROOT / "results" / chapter / chapter_module(chapter).store(config).name


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _no_build(monkeypatch):
    def built(self):
        raise AssertionError("the task was built: the store was not only read")
    monkeypatch.setattr(TaskSpec, "build", built)


# --- corrupt, truncated and foreign files ----------------------------------------------------------


def _damaged(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.sqlite"
    if kind == "text":
        path.write_text("name,size\nmlp,8\n")
    elif kind == "garbage":
        path.write_bytes(os.urandom(8192))
    elif kind == "directory":
        path.mkdir()
    elif kind == "truncated":
        with Store(path) as store:  # a real store of several pages, cut in half
            store.add([{**_row(f"k{i}"), "config": {"pad": "x" * 2000, "i": i}} for i in range(40)])
        data = path.read_bytes()
        assert len(data) > 16384
        path.write_bytes(data[: len(data) // 2])
    elif kind == "other_sqlite":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE people (name TEXT)")
    return path


@pytest.mark.parametrize("kind", ["text", "garbage", "directory", "truncated", "other_sqlite"])
def test_a_damaged_or_foreign_file_is_a_one_line_error_naming_it(tmp_path, capsys, monkeypatch, kind):
    path = _damaged(kind, tmp_path)
    before = None if path.is_dir() else _digest(path)
    for readonly in (True, False):
        with pytest.raises(StoreError, match=re.escape(f"results store '{path}'")) as raised:
            Store(path, readonly=readonly)
        assert "\n" not in str(raised.value)
    assert cli.main(["show", str(path)]) == 2
    line = _error_line(capsys)
    assert str(path) in line and "Traceback" not in line
    _no_build(monkeypatch)  # refused before the task is built or anything is written
    with pytest.raises(StoreError, match=re.escape(f"results store '{path}'")):
        run_sweep(_spec(), path, progress=False)
    assert before is None or _digest(path) == before


def test_the_errors_say_what_is_wrong(tmp_path):
    expected = {"text": "is not a SQLite database", "garbage": "is not a SQLite database",
                "directory": "is a directory", "truncated": "is damaged",
                "other_sqlite": r"not a results store \(its tables are people"}
    for kind, message in expected.items():
        with pytest.raises(StoreError, match=message):
            Store(_damaged(kind, tmp_path), readonly=True)


def test_another_tasks_store_is_refused_and_keeps_its_trials(tmp_path, monkeypatch, capsys):
    path = tmp_path / "g2p-laptop.sqlite"  # the committed store of the translation chapter
    shutil.copyfile(ROOT / "results" / "nmt" / "g2p-laptop.sqlite", path)
    with Store(path, readonly=True) as store:
        before = store.to_frame()
    monkeypatch.setattr(run_module.LocalExecutor, "run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(StoreError, match=re.escape(f"results store '{path}' holds trials of task 'nmt-g2p', not 'mnist1d'")):
        run_sweep(_spec(), path, progress=False)
    config = tmp_path / "sweep.yaml"
    config.write_text(f"name: robust\ntask: {{factory: '{MNIST1D.factory}', kwargs: {{n_train: 400, n_val: 200}}}}\n"
                      "shard_sizes: [50]\nsearches: [{family: mlp, grid: [4]}]\n")
    assert cli.main(["run", str(config), "--store", str(path), "--quiet"]) == 2
    assert "holds trials of task 'nmt-g2p'" in _error_line(capsys)
    with Store(path, readonly=True) as store:  # nothing lost, nothing added
        pd.testing.assert_frame_equal(store.to_frame(), before)
        assert store.tasks() == ["nmt-g2p"]


def test_several_sweeps_of_one_task_share_a_store(tmp_path):
    torch.set_num_threads(1)
    path = tmp_path / "s.sqlite"
    first = run_sweep(_spec("one", shards=(50,)), path, progress=False)
    second = run_sweep(_spec("two", shards=(50, 100)), path, progress=False)
    assert set(first["key"]) <= set(second["key"])  # the shared trials trained once
    with Store(path, readonly=True) as store:
        assert store.tasks() == ["mnist1d"] and (store.to_frame()["starts"] == 1).all()


@pytest.mark.parametrize("chapter", ["char_lm", "word_lm"])
def test_each_committed_store_is_accepted_for_its_own_chapters_task(tmp_path, chapter):
    # the other four build their laptop data for 4-11 s each here; checked the same way by hand, their
    # stores hold one task each, that of the chapter: 'images-mnist1d', 'mnist1d', 'nmt-g2p', 'speech-espeak'
    config = configure(chapter, profile="laptop")
    module = chapter_module(chapter)
    path = tmp_path / _committed(chapter, config).name
    shutil.copyfile(_committed(chapter, config), path)
    with Store(path) as store:
        for name in {spec.task.build().name for spec in module.sweep_specs(config)}:
            store.check_task(name)  # what a resumed sweep of the chapter checks before training
        with pytest.raises(StoreError, match="holds trials of task"):
            store.check_task("nmt-g2p" if chapter != "nmt" else "mnist1d")


# --- reads never write ---------------------------------------------------------------------------


def test_an_empty_or_missing_store_given_to_a_read_stays_as_it_was(tmp_path, capsys):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    assert cli.main(["show", str(empty)]) == 2
    assert f"results store '{empty}' is empty (0 bytes)" in _error_line(capsys)
    with pytest.raises(StoreError, match="is empty"):
        Store(empty, readonly=True)
    missing = tmp_path / "missing.sqlite"
    with pytest.raises(StoreError, match=re.escape(f"results store '{missing}' does not exist")):
        Store(missing, readonly=True)
    assert empty.stat().st_size == 0 and not missing.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite"]


def test_reading_a_store_leaves_its_file_unchanged_and_refuses_writes(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        store.add([_row("a"), _row("b")])
    before = _digest(path)
    assert cli.main(["show", str(path)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    with Store(path, readonly=True) as store:
        assert store.readonly and store.to_frame()["key"].tolist() == ["a", "b"]
        with pytest.raises(StoreError, match=re.escape(f"results store '{path}' is read-only (opened for reading)")):
            store.add([_row("c")])
    assert _digest(path) == before


# --- committed stores on a read-only checkout -----------------------------------------------------


def _read_only_copy(chapter: str, folder: Path) -> tuple:
    config = configure(chapter, profile="laptop")
    source = _committed(chapter, config)
    folder.mkdir()
    path = folder / source.name
    shutil.copyfile(source, path)
    path.chmod(0o444)
    folder.chmod(0o555)
    return config, path


def _read_chapter(config, path: Path) -> int:
    """Read every sweep of the chapter from ``path`` as the book does; the trials read."""
    with Store(path) as store:  # asked for writing, opened for reading: the file cannot be written
        assert store.readonly
        frame = store.to_frame()
        specs = all_sweep_specs(config, store)
    read = [run_sweep(spec, path, progress=False) for spec in specs]
    assert specs and all(len(trials) for trials in read)
    assert set().union(*(set(trials["key"]) for trials in read)) <= set(frame["key"])
    return len(frame)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_committed_store_is_read_in_a_folder_nobody_may_write(tmp_path, monkeypatch, chapter):
    if os.geteuid() == 0:  # root writes whatever the modes say: the store sees the folder as read-only
        monkeypatch.setattr(store_file_module, "_writable", lambda path: False)
    config, path = _read_only_copy(chapter, tmp_path / "checkout")
    before = _digest(path)
    _no_build(monkeypatch)
    try:
        trials = _read_chapter(config, path)
        with Store(path, readonly=True) as store:
            assert len(store.to_frame()) == trials  # nothing lost
        with Store(path) as store, pytest.raises(StoreError, match="is read-only .*not writable"):
            store.mark_complete("x", "{}")
        assert _digest(path) == before
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no -wal or -shm made beside it
    finally:
        path.parent.chmod(0o755)
        path.chmod(0o644)


NOBODY_READS = """
import os, sys
sys.path.insert(0, {root!r})
os.environ["SCALING_CORE_CACHE"] = os.environ["SCALING_CORE_RESULTS"] = {scratch!r}
from pathlib import Path
from scaling_core.experiments.contract import all_sweep_specs, configure
from scaling_core.sweep.run import run_sweep
from scaling_core.sweep.store import Store
path = Path({path!r})
with Store(path) as store:
    assert store.readonly, "opened for writing"
    specs = all_sweep_specs(configure("image", profile="laptop"), store)
print(sum(len(run_sweep(spec, path, progress=False)) for spec in specs))
"""


def test_a_committed_store_is_read_with_real_permissions(tmp_path, monkeypatch):
    """The same, with the modes enforced: as this user, or as ``nobody`` (``setpriv``) when running as root."""
    if os.geteuid() != 0:
        config, path = _read_only_copy("image", tmp_path / "checkout")
        _no_build(monkeypatch)
        try:
            assert _read_chapter(config, path) > 0
            assert [p.name for p in path.parent.iterdir()] == [path.name]
        finally:
            path.parent.chmod(0o755)
            path.chmod(0o644)
        return
    setpriv = shutil.which("setpriv")
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    probe = setpriv and subprocess.run([*as_nobody, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                                        "import scaling_core.sweep.store"], capture_output=True, cwd="/")
    if not probe or probe.returncode != 0:
        pytest.skip("running as root, for whom chmod does not stop writes, and 'nobody' cannot run this "
                    "checkout here; the read-only folder is simulated in "
                    "test_a_committed_store_is_read_in_a_folder_nobody_may_write")
    outside = Path(tempfile.mkdtemp())  # pytest's folders are private to root
    try:
        outside.chmod(0o755)
        (outside / "scratch").mkdir(mode=0o777)
        (outside / "scratch").chmod(0o777)
        config, path = _read_only_copy("image", outside / "checkout")
        before = _digest(path)
        script = NOBODY_READS.format(root=str(ROOT), scratch=str(outside / "scratch"), path=str(path))
        read = subprocess.run([*as_nobody, "-c", script], capture_output=True, text=True, cwd="/")
        assert read.returncode == 0, read.stderr
        assert _digest(path) == before and [p.name for p in path.parent.iterdir()] == [path.name]
        assert int(read.stdout.split()[-1]) > 0
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def test_a_log_left_beside_a_read_only_store_is_read_too(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    writer = Store(path)
    writer.add([_row("a")])
    pinned = sqlite3.connect(path)  # another connection keeps the log from being folded in at close
    pinned.execute("SELECT count(*) FROM trials").fetchall()
    writer._db.close()  # a writer that died without checkpointing
    assert Path(f"{path}-wal").stat().st_size > 0
    monkeypatch.setattr(store_file_module, "_writable", lambda p: False)
    with Store(path, readonly=True) as store:
        assert store.to_frame()["key"].tolist() == ["a"]
    pinned.close()


def test_a_writer_leaves_a_self_contained_file(tmp_path):
    torch.set_num_threads(1)
    path = tmp_path / "s.sqlite"
    Store(path).close()
    reader = sqlite3.connect(path)  # a reader open all along: the writer's close is not the last one
    reader.execute("SELECT count(*) FROM trials").fetchall()
    frame = run_sweep(_spec(shards=(50,)), path, progress=False)
    committed = tmp_path / "committed"
    committed.mkdir()
    shutil.copyfile(path, committed / path.name)  # the file alone, as git would commit it
    reader.close()
    with Store(committed / path.name, readonly=True) as store:
        assert sorted(store.to_frame()["key"]) == sorted(frame["key"])
        assert store.completed_spec("robust") is not None


# --- two writers on one store ---------------------------------------------------------------------

CLOSE_LAST = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("SELECT count(*) FROM trials").fetchall()
db.close()  # the last connection to the file (as SQLite sees it) checkpoints and deletes the log
"""


def test_a_second_store_in_one_process_keeps_the_first_ones_locks(tmp_path):
    """Another process closing its connection must not take a live writer here for gone.

    A store's file is opened by SQLite under POSIX locks, which any close of the same file in
    this process would drop; the second ``Store`` must not read the file's header then.
    """
    path = tmp_path / "s.sqlite"
    writer = Store(path)
    writer.add_code_version("held", {"a.py": "1"}, None)  # written to the log, not yet checkpointed
    log = Path(f"{path}-wal")
    assert log.exists() and log.stat().st_size > 0
    with Store(path, readonly=True) as reader:  # a second connection of this process
        assert reader.code_version_files("held") == {"a.py": "1"}
        subprocess.run([sys.executable, "-c", CLOSE_LAST, str(path)], check=True)
        assert log.exists(), "another process took this process's connections for gone"
    writer.add_code_version("after", {"a.py": "2"}, None)
    writer.close()
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Store(path, readonly=True) as store:
        assert store.code_version_files("held") and store.code_version_files("after") == {"a.py": "2"}


DRIVER = """
import pickle, sys, time
from pathlib import Path
import torch
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
from test_store_robustness import _spec
from scaling_core.sweep.run import run_sweep

folder, me = Path(sys.argv[1]), sys.argv[2]
torch.set_num_threads(1)
(folder / f"ready-{{me}}").touch()
while len(list(folder.glob("ready-*"))) < 2:  # both drivers start together
    time.sleep(0.01)
frame = run_sweep(_spec(shards=(50, 100, 200), grid=(4, 8, 16)), folder / "s.sqlite", progress=False)
frame.to_pickle(folder / f"frame-{{me}}.pkl")
"""


def test_two_drivers_of_one_sweep_train_each_trial_once(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(root=str(ROOT), tests=str(ROOT / "tests")))
    drivers = [subprocess.Popen([sys.executable, str(script), str(tmp_path), me]) for me in "ab"]
    assert [d.wait(timeout=300) for d in drivers] == [0, 0]
    frames = [pd.read_pickle(tmp_path / f"frame-{me}.pkl") for me in "ab"]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        stored = store.to_frame()
    assert len(stored) == len(frames[0]) >= 5
    assert (stored["status"] == "done").all()
    assert (stored["starts"] == 1).all(), stored[["key", "starts"]]  # no trial trained twice


def test_claims_of_live_drivers_hold_and_stale_ones_are_taken_over(tmp_path):
    host = socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Store(tmp_path / "s.sqlite") as store:
        store.add([_row(k) for k in "abcde"])
        assert store.claim("ab", "driver-1:1:x") == ["a", "b"]
        assert store.claim("abc", "driver-2:2:y") == ["c"]  # a and b are held
        assert store.claim("ab", "driver-1:1:x") == ["a", "b"]  # its own claims
        store.start("a", "cpu", "driver-1:1:x")
        store.finish("a", {"status": "done"})
        assert store.claim("ab", "driver-2:2:y") == []  # a is finished, b still held
        assert store.claim("b", "driver-2:2:y", stale_after=0.0) == ["b"]  # its heartbeat went stale
        store.claim("d", f"{host}:{dead.pid}:z")
        assert store.claim("d", "driver-2:2:y") == ["d"]  # its process on this host has died
        store.claim("e", f"{host}:{os.getpid()}:z")
        assert store.claim("e", "driver-2:2:y") == []  # alive, on this host
        store.unclaim(f"{host}:{os.getpid()}:z")
        assert store.claim("e", "driver-2:2:y") == ["e"]
        assert store.claims(["e"])["e"][:2] == ("pending", "driver-2:2:y")
        claimed_at = store.claims(["e"])["e"][2]
        with store.heartbeat("driver-2:2:y", every=0.05):  # a running driver keeps its claims fresh
            time.sleep(0.5)
        assert store.claims(["e"])["e"][2] > claimed_at
        assert "owner" not in store.to_frame().columns  # claims are bookkeeping, not results


def test_a_sweep_waits_for_a_live_claim_and_retrains_stale_ones(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(run_module, "POLL_SECONDS", 0.1)
    path = tmp_path / "s.sqlite"
    spec = SweepSpec(name="claims", task=MNIST1D, shard_sizes=(50,),
                     searches=(SearchSpec("mlp", grid=(4, 8, 16), samples=1),), trainer=TRAINER)
    reference = run_sweep(spec, path, progress=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host, now = socket.gethostname(), time.time()
    live, died, old = sorted(reference["key"])
    with sqlite3.connect(path) as db:  # as if cut while three drivers ran it
        db.execute("DELETE FROM sweeps")
        for key, owner, beat in [(live, f"{host}:{os.getpid()}:other", now), (died, f"{host}:{dead.pid}:z", now),
                                 (old, "elsewhere:12:z", now - 3600)]:
            db.execute("UPDATE trials SET status = 'running', owner = ?, heartbeat = ? WHERE key = ?",
                       (owner, beat, key))
    db.close()

    def other_driver_finishes():
        time.sleep(1.5)
        with sqlite3.connect(path, timeout=30) as other:
            other.execute("UPDATE trials SET status = 'done' WHERE key = ?", (live,))
        other.close()

    finisher = threading.Thread(target=other_driver_finishes)
    finisher.start()
    started = time.monotonic()
    resumed = run_sweep(spec, path, progress=False)
    finisher.join()
    assert time.monotonic() - started >= 1.4  # it waited for the live claim
    starts = resumed.set_index("key")["starts"]
    assert starts[live] == 1 and starts[died] == 2 and starts[old] == 2  # only the stale claims retrained
    pd.testing.assert_frame_equal(resumed.drop(columns=VOLATILE), reference.drop(columns=VOLATILE))


def test_old_stores_get_the_claim_columns_without_changing_keys(tmp_path):
    path = tmp_path / "old.sqlite"
    shutil.copyfile(ROOT / "results" / "methodology" / "mnist1d-laptop.sqlite", path)
    with Store(path, readonly=True) as store:
        before = store.to_frame()
    with Store(path) as store:
        store.unclaim("nobody:1:x")  # a write: the columns are added
        columns = {row[1] for row in store._db.execute("PRAGMA table_info(trials)")}
        pd.testing.assert_frame_equal(store.to_frame(), before)
    assert {"owner", "heartbeat"} <= columns
