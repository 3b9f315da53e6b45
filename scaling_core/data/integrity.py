"""Integrity of real data: checksums, file checks, one-line errors and safe downloads.

* A data folder may ship a ``SHA256SUMS`` file (``<hex digest>  <path relative to the
  folder>`` per line, the ``sha256sum`` format). :func:`verify_file` checks a file a
  loader is about to read against it; a folder without one (a user's own copy) is
  read without a check. A file the list does not name is not checked either.
* :func:`file_sha256` hashes a file once per (path, size, mtime, ctime): digests are
  kept in a small JSON cache under ``cache_dir("integrity")``, so repeated loads of
  large archives stay fast.
* :func:`download` fetches a URL with a per-read timeout into a temporary file beside
  the target, checks the pinned SHA-256 and only then renames it into place; on any
  failure the temporary file is removed and a cached copy is left as it was.
* :class:`DataError` is the one-line error for a bad file: ``<path relative to the
  data folder>: <what is wrong>``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from scaling_core.paths import cache_dir

SUMS_FILE = "SHA256SUMS"
"""Name of the checksum list a data folder may ship."""
DEFAULT_TIMEOUT = 60.0
"""Seconds a download waits for a connection or for each read before giving up."""
_SUMS_SEARCH_DEPTH = 4  # folders above a file searched for a SHA256SUMS
_CHUNK = 1 << 20
_RACY_NS = 3_000_000_000  # files modified this recently are hashed again next time


class DataError(ValueError):
    """A data file that is missing pieces, corrupt, or differs from its checksum (one line)."""


class DownloadError(OSError):
    """A download that could not be completed (unreachable, timed out, interrupted)."""


def one_line(text: object) -> str:
    """``text`` with its whitespace runs (newlines included) folded to single spaces."""
    return " ".join(str(text).split())


def display_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """``path`` relative to ``root`` when it lies below it, else the path as given."""
    path = Path(path)
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


def data_error(path: str | os.PathLike, root: str | os.PathLike | None, what: object) -> DataError:
    """A :class:`DataError` reading ``<path relative to root>: <what>`` on one line."""
    return DataError(f"{display_path(path, root)}: {one_line(what)}")


# ----------------------------------------------------------------------------- hashing


def sha256_of(path: str | os.PathLike, chunk: int = _CHUNK) -> str:
    """Hex SHA-256 digest of a file (always reads it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_hash_lock = threading.Lock()
_hash_memory: dict[str, dict] = {}


def _hash_cache_file() -> Path:
    return cache_dir("integrity") / "sha256.json"


def _read_hash_cache(file: Path) -> dict[str, dict]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stat_key(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, hashed once per (path, size, mtime, ctime, inode) and cached on disk.

    A file rewritten in place gets a new mtime (and ctime, even if the mtime is set
    back), so its digest is recomputed. As in git's index, a file changed within the
    last few seconds is not remembered: a second write in the same timestamp tick
    could otherwise go unnoticed.
    """
    resolved = str(Path(path).resolve())
    stamp = _stat_key(os.stat(resolved))
    file = _hash_cache_file()
    with _hash_lock:
        entry = _hash_memory.get(f"{file}|{resolved}")
        if entry is None:
            entry = _read_hash_cache(file).get(resolved)
        if isinstance(entry, dict) and entry.get("stat") == stamp and isinstance(entry.get("sha256"), str):
            _hash_memory[f"{file}|{resolved}"] = entry
            return entry["sha256"]
    digest = sha256_of(resolved)
    recent = time.time_ns() - _RACY_NS
    if _stat_key(os.stat(resolved)) != stamp or stamp[1] > recent:
        return digest  # changed while being read, or too recently to trust its timestamps
    entry = {"stat": stamp, "sha256": digest}
    with _hash_lock:
        _hash_memory[f"{file}|{resolved}"] = entry
        cache = _read_hash_cache(file)  # merge with what other processes wrote meanwhile
        cache[resolved] = entry
        tmp = file.with_name(f".{file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")
            tmp.replace(file)
        except OSError:  # a read-only cache only costs a re-hash next time
            tmp.unlink(missing_ok=True)
    return digest


# ----------------------------------------------------------------------------- SHA256SUMS


_sums_memory: dict[tuple[str, int, int], dict[str, str]] = {}


def read_sums(sums_file: str | os.PathLike) -> dict[str, str]:
    """``{relative path: hex digest}`` from a ``sha256sum``-format file (cached by mtime)."""
    sums_file = Path(sums_file)
    stat = sums_file.stat()
    key = (str(sums_file.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _sums_memory:
        sums = {}
        for line in sums_file.read_text(encoding="utf-8").splitlines():
            digest, _, name = line.strip().partition(" ")
            name = name.strip().removeprefix("*").removeprefix("./")
            if len(digest) == 64 and name:
                sums[name] = digest.lower()
        _sums_memory[key] = sums
    return _sums_memory[key]


def find_sums(path: str | os.PathLike) -> tuple[Path, str, str] | None:
    """``(data folder, relative path, expected digest)`` for ``path``, or None if unlisted.

    The data folder is the nearest folder above ``path`` (up to four levels) holding a
    ``SHA256SUMS``; None when there is none or it does not list ``path``.
    """
    path = Path(path).absolute()
    found = _sums_above(path.parent)
    if found is None:
        return None
    folder, sums = found
    relative = path.relative_to(folder).as_posix()
    return (folder, relative, sums[relative]) if relative in sums else None


def _sums_above(folder: Path) -> tuple[Path, dict[str, str]] | None:
    """The nearest ``SHA256SUMS`` at or above ``folder`` (within the search depth), and its list."""
    for candidate in [folder, *folder.parents][:_SUMS_SEARCH_DEPTH]:
        if (candidate / SUMS_FILE).is_file():
            return candidate, read_sums(candidate / SUMS_FILE)
    return None


def verify_file(path: str | os.PathLike) -> None:
    """Check ``path`` against the ``SHA256SUMS`` of its data folder, if one lists it.

    A folder without a ``SHA256SUMS`` (a user's own copy), or a file it does not
    list, passes unchecked. Digests come from :func:`file_sha256` (hashed once per
    file version).

    Raises
    ------
    DataError
        ``<path relative to the data folder>: checksum mismatch (...)``, or
        ``missing`` for a listed file that is absent.
    """
    found = find_sums(path)
    if found is not None:
        _check_listed(Path(path), *found)


def verify_files(paths) -> None:
    """:func:`verify_file` for many files, reading each folder's ``SHA256SUMS`` once."""
    above: dict[Path, tuple[Path, dict[str, str]] | None] = {}
    for path in paths:
        path = Path(path).absolute()
        if path.parent not in above:
            above[path.parent] = _sums_above(path.parent)
        if above[path.parent] is not None:
            folder, sums = above[path.parent]
            relative = path.relative_to(folder).as_posix()
            if relative in sums:
                _check_listed(path, folder, relative, sums[relative])


def _check_listed(path: Path, folder: Path, relative: str, expected: str) -> None:
    if not path.is_file():
        raise DataError(f"{relative}: missing (listed in {folder / SUMS_FILE})")
    got = file_sha256(path)
    if got != expected:
        raise DataError(f"{relative}: checksum mismatch: {SUMS_FILE} in {folder} has sha256 {expected[:16]}..., "
                        f"the file has {got[:16]}... (restore the file from its source)")


# ----------------------------------------------------------------------------- downloads


def download(
    url: str,
    sha256: str,
    folder: str | os.PathLike | None = None,
    name: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Fetch ``url`` into ``folder`` (default: the cache) unless a verified copy is there.

    Works for ``https://``, ``http://`` and ``file://`` URLs (tests use local ones).
    The data goes to a temporary file beside the target, is checked against
    ``sha256`` and only then renamed into place; on any failure the temporary file
    is removed and an existing copy is left untouched.

    Parameters
    ----------
    timeout : float
        Seconds to wait for the connection and for each read (default 60).

    Raises
    ------
    DataError
        If the downloaded file's SHA-256 differs from ``sha256`` ("checksum mismatch").
    DownloadError
        If the URL cannot be reached or stalls longer than ``timeout``.
    """
    folder = Path(folder) if folder is not None else cache_dir("downloads")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or url.rstrip("/").rsplit("/", 1)[-1])
    sha256 = sha256.lower()
    if target.is_file() and file_sha256(target) == sha256:
        return target
    handle, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s), file)
                    declared, received = response.headers.get("Content-Length"), 0
                    while block := response.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
                        received += len(block)
                    if declared is not None and declared.isdigit() and received < int(declared):
                        raise DownloadError(_unreachable(url, f"the connection closed after {received} of "
                                                              f"{declared} bytes"))
            except DownloadError:
                raise
            except (socket.timeout, TimeoutError) as error:
                raise DownloadError(_unreachable(url, f"timed out (no data for {timeout:g} s)")) from error
            except urllib.error.URLError as error:
                reason = error.reason
                if isinstance(reason, (socket.timeout, TimeoutError)):
                    reason = f"timed out (no data for {timeout:g} s)"
                raise DownloadError(_unreachable(url, reason)) from error
            except OSError as error:  # connection refused or reset, disk full
                raise DownloadError(_unreachable(url, error)) from error
            except Exception as error:  # noqa: BLE001 (http.client.IncompleteRead and friends)
                raise DownloadError(_unreachable(url, f"{type(error).__name__}: {error}")) from error
        got = digest.hexdigest()
        if got != sha256:
            raise DataError(one_line(f"checksum mismatch for {url}: expected sha256 {sha256}, got {got}; "
                                     "nothing was saved"))
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


# ----------------------------------------------------------------------------- archives


def check_tar(archive: tarfile.TarFile, path: str | os.PathLike, root: str | os.PathLike | None = None) -> list:
    """The members of an open tar, after checking that the file holds all of them.

    :mod:`tarfile` stops quietly at a damaged header or at the end of a cut-off file,
    so a truncated or overwritten archive would read as a smaller one. For an
    uncompressed tar this checks that every member's data lies inside the file and
    that the member list ends with the end-of-archive marker (a zero block).

    Raises
    ------
    DataError
        ``<relative path>: truncated tar (...)`` or ``corrupt tar (...)``.
    """
    try:
        members = archive.getmembers()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        what = "truncated tar" if isinstance(error, EOFError) or "end of" in str(error) else "corrupt tar"
        raise data_error(path, root, f"{what} ({error})") from error
    if archive.fileobj is None or not isinstance(archive.fileobj, io.BufferedReader):
        return members  # compressed: the decompressor reports a cut-off stream on reading
    size = os.fstat(archive.fileobj.fileno()).st_size
    for member in members:
        if member.isreg() and member.offset_data + member.size > size:
            raise data_error(path, root, f"truncated tar: member {member.name} needs {member.size} bytes "
                             f"at byte {member.offset_data}, the file ends at {size}")
    archive.fileobj.seek(archive.offset)
    block = archive.fileobj.read(tarfile.BLOCKSIZE)
    if len(block) < tarfile.BLOCKSIZE:
        raise data_error(path, root, f"truncated tar: the file ends at byte {size} after {len(members)} "
                         "members, without the end-of-archive marker")
    if block.count(0) != len(block):
        raise data_error(path, root, f"corrupt tar: unreadable header at byte {archive.offset} "
                         f"after {len(members)} members")
    return members


def _unreachable(url: str, reason: object) -> str:
    return one_line(f"could not download {url}: {reason}. Give a folder holding a copy of the data "
                    "with data_dir= (or set SCALING_CORE_DATA)")
