"""Where the project keeps caches, results stores and downloads."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SCALING_CORE_CACHE"
RESULTS_ENV = "SCALING_CORE_RESULTS"
REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir(*parts: str) -> Path:
    """A folder for generated data (synthetic audio, tokenizers, downloads), created on use.

    ``$SCALING_CORE_CACHE`` if set, else ``~/.cache/scaling_core``.
    """
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "scaling_core")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir() -> Path:
    """The folder of results stores: ``$SCALING_CORE_RESULTS`` if set, else ``<repo>/results``."""
    path = Path(os.environ.get(RESULTS_ENV) or REPO_ROOT / "results")
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_path(chapter: str, profile: str, dataset: str = "default") -> Path:
    """The results store of one chapter run: ``results/<chapter>/<dataset>-<profile>.sqlite``."""
    folder = results_dir() / chapter
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{dataset}-{profile}.sqlite"
