"""Download a file once, check its SHA-256, and keep it in the cache.

Kept for its import path: the implementation (a timeout per read, verification before the
file is renamed into place, no partial file left on any failure) lives in
:mod:`scaling_core.data.integrity`.
"""

from __future__ import annotations

from scaling_core.data.integrity import DownloadError, download, sha256_of

__all__ = ["DownloadError", "download", "sha256_of"]
