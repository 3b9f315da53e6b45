"""The results store: one SQLite row per trial.

SQLite (standard library) in WAL mode is the embedded default: one file that
chapters can commit, several readers beside one writer, and writers in several
processes serialised by SQLite's own locks (every write is one ``BEGIN
IMMEDIATE`` transaction, waiting on a busy timeout).

A trial's row holds its resolved configuration, seed, code version, git commit,
shard size, parameter count, metrics, timings, device and status, and why it stopped
(``stop_reason``) and whether it was still improving then (``improving``). Status moves
``pending`` -> ``running`` -> ``done`` or ``failed``; ``starts`` counts how many
times a trial was started, so a resumed sweep can show that nothing ran twice.

The ``baselines`` table keeps, per sweep and shard, the scores on V of trivial predictors
estimated from that shard (see :mod:`scaling_core.sweep.shard_baselines`).

Each code version that made trials is kept with the hash of each of its files (the
``code_versions`` table), so a store says which files changed since a trial was made.

A trial belongs to every sweep that planned it (the ``memberships`` table): two sweeps
that share a configuration share one trial, trained once and read by both. The row's own
``sweep`` column names the sweep that planned it first.

A driver *claims* the trials it is about to train (:meth:`Store.claim`): the row keeps the
claimant (``owner``: host, process id and a token of the driver) and a ``heartbeat`` time
the driver refreshes while it runs (:meth:`Store.heartbeat`). Another driver does not train a
trial claimed by a live one; a claim whose heartbeat is older than :data:`STALE_SECONDS`, or
whose process on this host has died, is taken over.

Reading never writes: ``Store(path, readonly=True)`` opens the file read-only (``mode=ro``;
``immutable`` where its folder is not writable, so that SQLite cannot make its ``-wal`` and
``-shm`` files), and a store whose file or folder is not writable opens read-only even when
asked for writing, so that committed stores are read on a read-only checkout. A writer
checkpoints the write-ahead log into the file when it closes, so a committed file holds
everything. A file that is not a results store, or is damaged, gives a :class:`StoreError`
naming it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

FINISHED = ("done", "failed")
"""Statuses a resumed sweep does not run again."""

PLAN_COLUMNS = (
    "key", "sweep", "task", "unit", "shard", "shard_units", "shard_examples", "family", "size",
    "lr", "batch_size", "sample", "seed", "trial_seed", "config", "code_version", "git_commit",
    "fingerprint", "config_key",
)
OUTCOME_COLUMNS = (
    "status", "reason", "num_params", "metrics", "train_loss", "best_step", "best_epoch", "steps",
    "epochs", "history", "wall_time", "device", "stop_reason", "improving",
)
ADDED_COLUMNS = {"stop_reason": "TEXT", "improving": "INTEGER", "config_key": "TEXT", "owner": "TEXT",
                 "heartbeat": "REAL"}
"""Columns newer than the first stores: added to an older store when it is next written."""
CLAIM_COLUMNS = ("owner", "heartbeat")
"""Who holds a trial and when it last said so: bookkeeping of running drivers, not in :meth:`Store.to_frame`."""
HEARTBEAT_SECONDS = 30.0
"""How often a running driver refreshes the heartbeat of the trials it claimed."""
STALE_SECONDS = 300.0
"""A claim whose heartbeat is older than this is taken over by another driver."""
POLL_SECONDS = 1.0
"""How often a driver waiting for trials another driver claimed looks at the store again."""
SQLITE_HEADER = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    key TEXT PRIMARY KEY, sweep TEXT, task TEXT, unit TEXT,
    shard INTEGER, shard_units REAL, shard_examples INTEGER,
    family TEXT, size REAL, lr REAL, batch_size INTEGER, sample INTEGER,
    seed INTEGER, trial_seed INTEGER, config TEXT,
    code_version TEXT, git_commit TEXT, fingerprint TEXT,
    status TEXT NOT NULL DEFAULT 'pending', reason TEXT, starts INTEGER NOT NULL DEFAULT 0,
    num_params INTEGER, metrics TEXT, train_loss REAL, best_step INTEGER, best_epoch REAL,
    steps INTEGER, epochs REAL, history TEXT, wall_time REAL, device TEXT,
    created_at REAL, started_at REAL, finished_at REAL, stop_reason TEXT, improving INTEGER,
    config_key TEXT, owner TEXT, heartbeat REAL
);
CREATE INDEX IF NOT EXISTS trials_sweep ON trials (sweep, shard);
CREATE TABLE IF NOT EXISTS sweeps (name TEXT PRIMARY KEY, spec TEXT, completed_at REAL);
CREATE TABLE IF NOT EXISTS memberships (sweep TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (sweep, key));
CREATE TABLE IF NOT EXISTS code_versions (version TEXT PRIMARY KEY, files TEXT, git_commit TEXT);
CREATE TABLE IF NOT EXISTS baselines (
    sweep TEXT NOT NULL, spec_key TEXT NOT NULL, shard INTEGER NOT NULL, shard_units REAL,
    baseline TEXT NOT NULL, metric TEXT NOT NULL, value REAL,
    PRIMARY KEY (sweep, shard, baseline, metric)
);
"""


class StoreError(ValueError):
    """A results store that cannot be used as asked: the message names its file and what is wrong."""


class EmptyStoreError(StoreError):
    """A store opened for reading that holds nothing yet: 0 bytes, or a database a writer is still creating."""


class Store:
    """A SQLite results store at ``path`` (created on first use).

    Parameters
    ----------
    path : str or Path
        The database file.
    timeout : float
        Seconds a writer waits for another process's lock before failing.
    readonly : bool
        Only read: the file must be a results store already, and nothing is written to it
        (not even the schema). A store whose file or folder is not writable opens read-only
        in any case (``readonly`` is then ``True``), and writing to it raises :class:`StoreError`.

    Raises
    ------
    StoreError
        ``path`` is a directory, is not a SQLite database or not a results store, is damaged,
        or (``readonly``) does not exist or is empty.
    """

    def __init__(self, path: str | Path, timeout: float = 60.0, readonly: bool = False):
        self.path = Path(path)
        self.timeout = timeout
        self._snapshot: str | None = None
        self._why_readonly = "opened for reading"
        self._check_file(must_exist=readonly)
        if not readonly and self.path.exists() and not _writable(self.path):
            readonly, self._why_readonly = True, "its file or folder is not writable"
        self.readonly = readonly
        self._db: sqlite3.Connection | None = None
        try:
            self._open_read() if readonly else self._open_write()
        except sqlite3.DatabaseError as error:
            self._abandon()
            raise self._error(error) from None
        except OSError as error:  # its folder cannot be made, or a copy of it cannot be written
            self._abandon()
            raise StoreError(f"results store '{self.path}' cannot be opened ({error.strerror or error})") from None
        except BaseException:
            self._abandon()
            raise

    def _check_file(self, must_exist: bool) -> None:
        """One-line errors for what SQLite would take badly, before it opens (and writes to) the file."""
        if self.path.is_dir():
            raise StoreError(f"results store '{self.path}' is a directory, not a SQLite file")
        if not self.path.exists():
            if must_exist:
                raise StoreError(f"results store '{self.path}' does not exist")
            return
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
        except OSError as error:
            raise StoreError(f"results store '{self.path}' cannot be read ({error.strerror or error})") from None
        if not header and must_exist:
            raise EmptyStoreError(f"results store '{self.path}' is empty (0 bytes), not a results store")
        if header and header != SQLITE_HEADER:
            raise StoreError(f"results store '{self.path}' is not a SQLite database")

    def _open_write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        self._require_trials(empty_ok=True)
        self._wal(self.timeout)
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL-safe: no corruption on a crash
        with self._write() as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            if "trials" in tables and "memberships" not in tables:  # a store older than memberships
                db.execute("INSERT OR IGNORE INTO memberships SELECT sweep, key FROM trials")
                for name, record in db.execute("SELECT name, spec FROM sweeps").fetchall():
                    db.executemany("INSERT OR IGNORE INTO memberships VALUES (?, ?)",
                                   [(name, key) for key in json.loads(record).get("keys", [])])

    def _open_read(self) -> None:
        """Read-only: ``mode=ro`` where SQLite may make its ``-shm`` file beside the store, else ``immutable``.

        An immutable reader ignores a write-ahead log, so a non-empty ``-wal`` left beside a store
        in a folder it cannot write is read from a private copy of both files.
        """
        uri = self.path.resolve().as_uri()
        if _writable(self.path.parent):
            try:
                self._db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=self.timeout,
                                           isolation_level=None)
                self._db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:  # SQLite could not make its -shm file: read immutable
                self._abandon()
        if self._db is None:
            wal = Path(f"{self.path}-wal")
            if wal.exists() and wal.stat().st_size > 0:
                self._snapshot = tempfile.mkdtemp(prefix="scaling-core-store-")
                copy = Path(self._snapshot) / self.path.name
                shutil.copyfile(self.path, copy)
                shutil.copyfile(wal, f"{copy}-wal")
                self._db = sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True, isolation_level=None)
            else:
                self._db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        self._require_trials(empty_ok=False)
        present = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for statement in filter(str.strip, _SCHEMA.split(";")):  # tables an older store lacks: empty, in memory
            name = statement.split("EXISTS", 1)[1].split()[0]
            if statement.lstrip().startswith("CREATE TABLE") and name not in present:
                self._db.execute(statement.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))
        if "memberships" not in present:  # a store older than memberships: as a writer would fill it
            self._db.execute("INSERT OR IGNORE INTO temp.memberships SELECT sweep, key FROM trials")
            for name, record in self._db.execute("SELECT name, spec FROM sweeps").fetchall():
                self._db.executemany("INSERT OR IGNORE INTO temp.memberships VALUES (?, ?)",
                                     [(name, key) for key in json.loads(record).get("keys", [])])

    def _require_trials(self, empty_ok: bool) -> None:
        """A results store has a ``trials`` table; a writer may also start from an empty database."""
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables and not empty_ok:
            raise EmptyStoreError(f"results store '{self.path}' holds nothing yet (an empty SQLite database)")
        if "trials" not in tables and not (empty_ok and not tables):
            found = f"its tables are {', '.join(sorted(tables))}" if tables else "it has no tables"
            raise StoreError(f"results store '{self.path}' is a SQLite database but not a results store "
                             f"({found}, no trials)")

    def _abandon(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._snapshot is not None:
            shutil.rmtree(self._snapshot, ignore_errors=True)
            self._snapshot = None

    def _error(self, error: BaseException) -> StoreError:
        """A :class:`StoreError` naming this store for an error of SQLite (or of pandas reading it)."""
        error = error.__cause__ if isinstance(error.__cause__, sqlite3.Error) else error
        message = str(error)
        if "file is not a database" in message:
            return StoreError(f"results store '{self.path}' is not a SQLite database")
        if "malformed" in message:
            return StoreError(f"results store '{self.path}' is damaged (truncated or corrupt): {message}")
        if "readonly" in message:
            return StoreError(f"results store '{self.path}' is read-only: {message}")
        return StoreError(f"results store '{self.path}' cannot be used: {message}")

    def _wal(self, timeout: float) -> None:
        """Switch to WAL mode; a writer opening the same new file at the same moment can hold its lock."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        """Close; a writer first moves its write-ahead log into the file, so the file holds everything."""
        if self._db is not None and not self.readonly:
            try:
                self._db.execute("PRAGMA busy_timeout = 1000")  # a reader of another process may hold it
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error:
                pass  # the last connection to close checkpoints it then
        self._abandon()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def check_writable(self, doing: str = "nothing can be recorded in it") -> None:
        """Raise :class:`StoreError` if this store is read-only (``doing`` says what therefore cannot be done)."""
        if self.readonly:
            raise StoreError(f"results store '{self.path}' is read-only ({self._why_readonly}): {doing}")

    @contextlib.contextmanager
    def _write(self):
        """One immediate (write-locked) transaction, committed or rolled back."""
        self.check_writable()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert planned trials as ``pending``; keys already stored are left alone."""
        names = ", ".join(PLAN_COLUMNS)
        marks = ", ".join("?" for _ in PLAN_COLUMNS)
        rows = list(rows)
        values = [tuple(_cell(row.get(c)) for c in PLAN_COLUMNS) + (time.time(),) for row in rows]
        with self._write() as db:
            _add_columns(db)
            db.executemany(
                f"INSERT OR IGNORE INTO trials ({names}, created_at) VALUES ({marks}, ?)", values
            )
            db.executemany("INSERT OR IGNORE INTO memberships VALUES (?, ?)",
                           [(row["sweep"], row["key"]) for row in rows])

    def statuses(self, keys: Iterable[str]) -> dict[str, str]:
        """``{key: status}`` for the stored ones among ``keys``."""
        keys = list(keys)
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            query = f"SELECT key, status FROM trials WHERE key IN ({', '.join('?' * len(chunk))})"
            found.update(self._db.execute(query, chunk).fetchall())
        return found

    def start(self, key: str, device: str | None = None, owner: str | None = None) -> None:
        """Mark a trial ``running`` and count the start (claimed by ``owner``, with a fresh heartbeat, if given)."""
        now = time.time()
        with self._write() as db:
            if owner is None:
                db.execute("UPDATE trials SET status = 'running', starts = starts + 1, started_at = ?, "
                           "device = ? WHERE key = ?", (now, device, key))
                return
            _add_columns(db)
            db.execute("UPDATE trials SET status = 'running', starts = starts + 1, started_at = ?, "
                       "device = ?, owner = ?, heartbeat = ? WHERE key = ?", (now, device, owner, now, key))

    def release(self, key: str) -> None:
        """Put a started trial back to ``pending`` (a time budget cut it): the next run trains it again."""
        with self._write() as db:
            _add_columns(db)
            db.execute("UPDATE trials SET status = 'pending', device = NULL, owner = NULL, heartbeat = NULL "
                       "WHERE key = ?", (key,))

    def claim(self, keys: Iterable[str], owner: str, stale_after: float | None = None,
              finished: tuple[str, ...] = FINISHED) -> list[str]:
        """Claim for ``owner`` the unfinished trials among ``keys`` that no live driver holds; the claimed keys.

        Unfinished means a status outside ``finished`` (``("done",)`` to retry failed trials).

        A trial is held by a live driver when another ``owner`` claimed it and its heartbeat is
        younger than ``stale_after`` seconds (default :data:`STALE_SECONDS`) and, when that owner
        runs on this host, its process is alive. Keys not in the store are returned as claimed.
        One write transaction: two drivers claiming at once never both get a trial.
        """
        stale_after = STALE_SECONDS if stale_after is None else stale_after
        keys = list(dict.fromkeys(keys))
        now = time.time()
        with self._write() as db:
            _add_columns(db)
            rows = {key: rest for key, *rest in self._select("status, owner, heartbeat", keys)}
            free = [key for key in keys if key not in rows or (
                rows[key][0] not in finished
                and (rows[key][1] == owner or rows[key][0] in FINISHED  # a finished trial's driver is done with it
                     or not live_claim(rows[key][1], rows[key][2], now, stale_after)))]
            db.executemany("UPDATE trials SET owner = ?, heartbeat = ? WHERE key = ?",
                           [(owner, now, key) for key in free if key in rows])
        return free

    def unclaim(self, owner: str) -> None:
        """Drop ``owner``'s claims on unfinished trials (its driver stops): another driver may take them at once."""
        with self._write() as db:
            _add_columns(db)
            db.execute("UPDATE trials SET owner = NULL, heartbeat = NULL WHERE owner = ? "
                       "AND status NOT IN ('done', 'failed')", (owner,))

    def claims(self, keys: Iterable[str]) -> dict[str, tuple[str, str | None, float | None]]:
        """``{key: (status, owner, heartbeat)}`` for the stored ones among ``keys``."""
        if not set(CLAIM_COLUMNS) <= {row[1] for row in self._db.execute("PRAGMA table_info(trials)")}:
            return {key: (status, None, None) for key, status in self.statuses(keys).items()}
        return {key: tuple(rest) for key, *rest in self._select("status, owner, heartbeat", keys)}

    @contextlib.contextmanager
    def heartbeat(self, owner: str, every: float | None = None):
        """While the block runs, refresh every ``every`` seconds (default :data:`HEARTBEAT_SECONDS`)
        the heartbeat of ``owner``'s unfinished trials, from a thread with its own connection."""
        every = HEARTBEAT_SECONDS if every is None else every
        stop = threading.Event()

        def beat() -> None:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            try:
                while not stop.wait(every):
                    try:
                        db.execute("UPDATE trials SET heartbeat = ? WHERE owner = ? "
                                   "AND status NOT IN ('done', 'failed')", (time.time(), owner))
                    except sqlite3.Error:
                        pass  # locked for long, or the columns not added yet: the next beat tries again
            finally:
                db.close()

        thread = threading.Thread(target=beat, name=f"heartbeat {owner}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def tasks(self) -> list[str]:
        """The names of the tasks of the stored trials."""
        return [row[0] for row in self._db.execute(
            "SELECT DISTINCT task FROM trials WHERE task IS NOT NULL ORDER BY task")]

    def check_task(self, task: str) -> None:
        """Raise :class:`StoreError` if the store holds trials of a task other than ``task``.

        One store holds one task's trials (a chapter's sweeps of one dataset): a store given by
        mistake for another task is refused before anything is written to it.
        """
        others = [name for name in self.tasks() if name != task]
        if others:
            raise StoreError(f"results store '{self.path}' holds trials of task "
                             f"{', '.join(repr(o) for o in others)}, not {task!r}; give each task its own store")

    def finish(self, key: str, outcome: dict[str, Any]) -> None:
        """Record a trial's outcome (``status`` ``done`` or ``failed`` and its results)."""
        if outcome.get("status") not in FINISHED:
            raise ValueError(f"parameter 'status' got {outcome.get('status')!r}; allowed: {FINISHED}")
        names = [c for c in OUTCOME_COLUMNS if c in outcome]
        assignments = ", ".join(f"{c} = ?" for c in names)
        values = [_cell(outcome[c]) for c in names]
        with self._write() as db:
            _add_columns(db)
            db.execute(
                f"UPDATE trials SET {assignments}, finished_at = ? WHERE key = ?",
                (*values, time.time(), key),
            )

    def finished_by_config(self, config_keys: Iterable[str]) -> dict[str, str]:
        """``{config_key: key}`` of finished trials with those configurations (``done`` first, then the latest)."""
        found: dict[str, str] = {}
        config_keys = list(config_keys)
        if "config_key" not in {row[1] for row in self._db.execute("PRAGMA table_info(trials)")}:
            return found  # a store older than configuration keys
        for start in range(0, len(config_keys), 500):
            chunk = config_keys[start : start + 500]
            query = (f"SELECT config_key, key FROM trials WHERE config_key IN ({', '.join('?' * len(chunk))}) "
                     "AND status IN ('done', 'failed') ORDER BY status = 'done', finished_at")
            found.update(self._db.execute(query, chunk).fetchall())  # later rows win
        return found

    def trial_code_versions(self, keys: Iterable[str]) -> list[str]:
        """The code versions of the trials ``keys`` (one per trial)."""
        return [version for _, version in self._select("code_version", keys)]

    def trial_commits(self, keys: Iterable[str], versions: Iterable[str]) -> list[str]:
        """The distinct git commits of the trials ``keys`` made by code ``versions``."""
        versions = set(versions)
        rows = self._select("code_version, git_commit", keys)
        return sorted({commit for _, version, commit in rows if version in versions and commit})

    def _select(self, columns: str, keys: Iterable[str]) -> list[tuple]:
        keys, rows = list(keys), []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows += self._db.execute(f"SELECT key, {columns} FROM trials WHERE key IN ({', '.join('?' * len(chunk))})",
                                     chunk).fetchall()
        return rows

    def add_code_version(self, version: str, files: dict[str, str], commit: str | None) -> None:
        """Record the ``{path: hash}`` files of a code version (kept once)."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO code_versions VALUES (?, ?, ?)",
                       (version, json.dumps(files, sort_keys=True), commit))

    def code_version_files(self, version: str) -> dict[str, str] | None:
        """The files of a recorded code version, or ``None`` if it was not recorded."""
        row = self._db.execute("SELECT files FROM code_versions WHERE version = ?", (version,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def mark_complete(self, name: str, spec: str) -> None:
        """Record that sweep ``name`` has finished all its trials (``spec``: its JSON record)."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO sweeps (name, spec, completed_at) VALUES (?, ?, ?)",
                (name, spec, time.time()),
            )

    def completed_spec(self, name: str) -> str | None:
        """The serialised spec of sweep ``name`` if it completed in this store, else ``None``."""
        row = self._db.execute(
            "SELECT spec FROM sweeps WHERE name = ? AND completed_at IS NOT NULL", (name,)
        ).fetchone()
        return row[0] if row else None

    def completed_record(self, name: str) -> dict[str, Any] | None:
        """The JSON record of completed sweep ``name`` (``spec``, ``keys``, ``code``, ``files`` ...)."""
        text = self.completed_spec(name)
        return json.loads(text) if text else None

    def members(self) -> dict[str, list[str]]:
        """``{sweep: [key, ...]}``: every trial each sweep planned (see the ``memberships`` table)."""
        members: dict[str, list[str]] = {}
        for sweep, key in self._db.execute("SELECT sweep, key FROM memberships ORDER BY sweep, key"):
            members.setdefault(sweep, []).append(key)
        return members

    def set_baselines(self, sweep: str, spec_key: str, rows: Iterable[dict[str, Any]]) -> None:
        """Replace sweep ``sweep``'s baseline scores with ``rows`` (``shard``, ``shard_units``, ``baseline``,
        ``metric``, ``value``), computed for the spec whose identity hashes to ``spec_key``."""
        with self._write() as db:
            db.execute("DELETE FROM baselines WHERE sweep = ?", (sweep,))
            db.executemany(
                "INSERT INTO baselines VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(sweep, spec_key, int(r["shard"]), float(r["shard_units"]), r["baseline"], r["metric"],
                  float(r["value"])) for r in rows])

    def baselines(self, sweep: str, spec_key: str) -> pd.DataFrame:
        """Sweep ``sweep``'s baseline scores for the spec ``spec_key`` (empty if none are stored)."""
        return pd.read_sql_query(
            "SELECT shard, shard_units, baseline, metric, value FROM baselines "
            "WHERE sweep = ? AND spec_key = ? ORDER BY shard, baseline, metric", self._db, params=(sweep, spec_key))

    def completed_sweeps(self) -> list[str]:
        """Names of the sweeps recorded complete in this store."""
        return [row[0] for row in self._db.execute(
            "SELECT name FROM sweeps WHERE completed_at IS NOT NULL ORDER BY name")]

    def to_frame(self, sweep: str | None = None, history: bool = False) -> pd.DataFrame:
        """All trials (of one ``sweep`` if given) as a DataFrame, one column per metric.

        The JSON ``metrics`` column is expanded into one float column per metric name;
        ``history`` (every evaluation of every trial) is left out unless asked for.
        """
        query, params = "SELECT * FROM trials", ()
        if sweep is not None:  # every trial the sweep planned, also those another sweep planned first
            query = ("SELECT trials.* FROM trials JOIN memberships ON memberships.key = trials.key "
                     "WHERE memberships.sweep = ?")
            params = (sweep,)
        order = " ORDER BY trials.shard, trials.family, trials.size, trials.sample, trials.key"
        frame = pd.read_sql_query(query + order, self._db,
                                  params=params)
        if sweep is not None:
            frame["sweep"] = sweep
        for column in ADDED_COLUMNS:  # stores written before these columns existed
            if column not in frame.columns and column not in CLAIM_COLUMNS:
                frame[column] = None
        frame = frame.drop(columns=[c for c in CLAIM_COLUMNS if c in frame.columns])
        metrics = pd.DataFrame([_json(m, {}) for m in frame.pop("metrics")],
                               index=frame.index)
        frame = pd.concat([frame, metrics.astype(float)], axis=1)
        if history:
            frame["history"] = [_json(h, []) for h in frame["history"]]
        else:
            frame = frame.drop(columns="history")
        return frame

    def history(self, key: str) -> pd.DataFrame:
        """Every evaluation of one trial: step, epoch, train_loss and validation metrics."""
        row = self._db.execute("SELECT history FROM trials WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"no trial with key {key!r} in {self.path}")
        return pd.DataFrame(_json(row[0], []))


def _guarded(method):
    """``method`` with SQLite's (and pandas') database errors raised as a :class:`StoreError` naming the store."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as error:
            raise self._error(error) from error
    return guarded


for _name, _method in list(vars(Store).items()):
    if callable(_method) and not _name.startswith("_") and _name not in ("close", "heartbeat"):
        setattr(Store, _name, _guarded(_method))


def owner_id() -> str:
    """A name for this driver in the store's claims: ``host:pid:token`` (two drivers of one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def live_claim(owner: str | None, heartbeat: float | None, now: float, stale_after: float) -> bool:
    """Whether a claim by ``owner`` with this ``heartbeat`` still holds (see :meth:`Store.claim`)."""
    if not owner or heartbeat is None or now - heartbeat > stale_after:
        return False
    parts = owner.rsplit(":", 2)  # host:pid:token
    if len(parts) == 3 and parts[0] == socket.gethostname() and parts[1].isdigit():
        return _alive(int(parts[1]))
    return True


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie does not); unknown (``True``) off POSIX."""
    if os.name != "posix":
        return True  # os.kill(pid, 0) would end the process on Windows: trust the heartbeat alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _writable(path: Path) -> bool:
    """Whether this process may write ``path`` and make files beside it (SQLite's ``-wal`` and ``-shm``)."""
    folder = path if path.is_dir() else path.parent
    return os.access(folder, os.W_OK) and (path.is_dir() or not path.exists() or os.access(path, os.W_OK))


def _add_columns(db) -> None:
    """Add :data:`ADDED_COLUMNS` to a store written before they existed."""
    present = {row[1] for row in db.execute("PRAGMA table_info(trials)")}
    for column, kind in ADDED_COLUMNS.items():
        if column not in present:
            db.execute(f"ALTER TABLE trials ADD COLUMN {column} {kind}")


def _json(text: Any, empty: Any) -> Any:
    """Parse a JSON cell; SQL NULL (``None`` or NaN in a frame) gives ``empty``."""
    return json.loads(text) if isinstance(text, str) else empty


def _cell(value: Any) -> Any:
    """A value as SQLite stores it: containers as JSON text, numpy scalars as Python ones."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    if hasattr(value, "item"):
        return value.item()
    return value
