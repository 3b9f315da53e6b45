"""The results store's file: opening it for writing or only for reading, and its schema.

Reading never writes: ``Store(path, readonly=True)`` opens the file read-only (``mode=ro``;
``immutable`` where its folder is not writable, so that SQLite cannot make its ``-wal`` and
``-shm`` files), and a store whose file or folder is not writable opens read-only even when
asked for writing, so that committed stores are read on a read-only checkout. A writer
checkpoints the write-ahead log into the file when it closes, so a committed file holds
everything. A file that is not a results store, or is damaged, gives a :class:`StoreError`
naming it.

SQLite's locks are POSIX advisory locks, which belong to a process: closing *any* file
descriptor of the store's file drops every lock the process holds on it, and another
process may then take this process's connections for gone (and, closing its own last
connection, checkpoint and delete the write-ahead log they still write to). So the file's
header is read only while this process has no connection to it (:data:`_CONNECTED`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

FINISHED = ("done", "failed")
"""Statuses a resumed sweep does not run again."""

ADDED_COLUMNS = {"stop_reason": "TEXT", "improving": "INTEGER", "config_key": "TEXT", "owner": "TEXT",
                 "heartbeat": "REAL"}
"""Columns newer than the first stores: added to an older store when it is next written."""
SQLITE_HEADER = b"SQLite format 3\x00"
_CONNECTED: dict[str, int] = {}
"""Open :class:`StoreFile` connections of this process per resolved file path."""

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


class StoreFile:
    """A results store's SQLite connection: opened for writing (schema made or updated) or read-only.

    :class:`~scaling_core.sweep.store.Store` adds what is read and written; see it for the parameters.
    """

    def __init__(self, path: str | Path, timeout: float = 60.0, readonly: bool = False):
        self.path = Path(path)
        self.timeout = timeout
        self._counted: str | None = None
        self._snapshot: str | None = None
        self._why_readonly = "opened for reading"
        self._check_file(must_exist=readonly)
        if not readonly and self.path.exists() and not _writable(self.path):
            readonly, self._why_readonly = True, "its file or folder is not writable"
        self.readonly = readonly
        self._db: sqlite3.Connection | None = None
        try:
            self._count_connection()
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
        if _CONNECTED.get(str(self.path.resolve())):  # checked when first opened; a close here drops its locks
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
                self._db.close()
                self._db = None
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

    def _count_connection(self) -> None:
        """Count this store among the process's connections to its file (until :meth:`_abandon`)."""
        self._counted = str(self.path.resolve())
        _CONNECTED[self._counted] = _CONNECTED.get(self._counted, 0) + 1

    def _abandon(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._counted is not None:
            _CONNECTED[self._counted] -= 1
            if not _CONNECTED[self._counted]:
                del _CONNECTED[self._counted]
            self._counted = None
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

    def __enter__(self):
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
