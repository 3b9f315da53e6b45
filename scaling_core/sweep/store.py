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

Opening the file (read-only or for writing, one-line :class:`StoreError` for anything that is
not a results store) is :mod:`scaling_core.sweep.store_file`; the claims of running drivers
are :mod:`scaling_core.sweep.claims`.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from typing import Any, Iterable

import pandas as pd

from scaling_core.sweep.claims import (  # noqa: F401 - the store's public names
    CLAIM_COLUMNS, HEARTBEAT_SECONDS, POLL_SECONDS, STALE_SECONDS, Claims, live_claim, owner_id,
)
from scaling_core.sweep.store_file import (  # noqa: F401 - the store's public names
    ADDED_COLUMNS, FINISHED, EmptyStoreError, StoreError, StoreFile, _add_columns,
)

PLAN_COLUMNS = (
    "key", "sweep", "task", "unit", "shard", "shard_units", "shard_examples", "family", "size",
    "lr", "batch_size", "sample", "seed", "trial_seed", "config", "code_version", "git_commit",
    "fingerprint", "config_key",
)
OUTCOME_COLUMNS = (
    "status", "reason", "num_params", "metrics", "train_loss", "best_step", "best_epoch", "steps",
    "epochs", "history", "wall_time", "device", "stop_reason", "improving",
)


class Store(StoreFile, Claims):
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


for _name, _method in [*vars(Store).items(), *vars(Claims).items(), ("check_writable", StoreFile.check_writable)]:
    if callable(_method) and not _name.startswith("_") and _name not in ("close", "heartbeat"):
        setattr(Store, _name, _guarded(_method))


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
