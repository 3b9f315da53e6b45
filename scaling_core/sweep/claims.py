"""Claims on trials, so that two drivers of one sweep never train a trial twice.

A driver *claims* the trials it is about to train (:meth:`Store.claim`): the row keeps the
claimant (``owner``: host, process id and a token of the driver) and a ``heartbeat`` time
the driver refreshes while it runs (:meth:`Store.heartbeat`). Another driver does not train a
trial claimed by a live one; a claim whose heartbeat is older than :data:`STALE_SECONDS`, or
whose process on this host has died, is taken over.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from typing import Iterable

from scaling_core.sweep.store_file import FINISHED, _add_columns

CLAIM_COLUMNS = ("owner", "heartbeat")
"""Who holds a trial and when it last said so: bookkeeping of running drivers, not in :meth:`Store.to_frame`."""
HEARTBEAT_SECONDS = 30.0
"""How often a running driver refreshes the heartbeat of the trials it claimed."""
STALE_SECONDS = 300.0
"""A claim whose heartbeat is older than this is taken over by another driver."""
POLL_SECONDS = 1.0
"""How often a driver waiting for trials another driver claimed looks at the store again."""


class Claims:
    """The claim methods of :class:`~scaling_core.sweep.store.Store` (a mixin over its connection)."""

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
