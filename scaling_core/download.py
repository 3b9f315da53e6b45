"""Download a file once, check its SHA-256, and keep it in the cache."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.request
from pathlib import Path

from scaling_core.paths import cache_dir


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, sha256: str, folder: str | Path | None = None, name: str | None = None) -> Path:
    """Fetch ``url`` into ``folder`` (default: the cache) unless a verified copy is there.

    Works for ``https://`` and ``file://`` URLs (tests use local files). The file is
    written to a temporary name and renamed only after its checksum matches.

    Raises
    ------
    ValueError
        If the downloaded file's SHA-256 differs from ``sha256``.
    """
    folder = Path(folder) if folder is not None else cache_dir("downloads")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or url.rstrip("/").rsplit("/", 1)[-1])
    if target.exists() and sha256_of(target) == sha256:
        return target
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as tmp:
        with urllib.request.urlopen(url) as response:  # noqa: S310 (http(s) and file URLs)
            shutil.copyfileobj(response, tmp)
    got = sha256_of(tmp.name)
    if got != sha256:
        Path(tmp.name).unlink()
        raise ValueError(f"checksum mismatch for {url}: expected sha256 {sha256}, got {got}")
    Path(tmp.name).replace(target)
    return target
