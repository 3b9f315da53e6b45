"""A paper book shows a chapter at paper only when its paper stores are complete, and says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from scaling_core import book, book_pages, pending
from scaling_core.paths import REPO_ROOT


def test_chapters_without_complete_paper_stores_fall_back_to_laptop_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_CORE_RESULTS", str(tmp_path))
    assert book.chapter_profile("methodology", "laptop") == ("laptop", "")
    assert book.chapter_profile("counting", "paper") == ("paper", "")  # computed in the notebook, no store
    used, why = book.chapter_profile("methodology", "paper")
    assert used == "laptop" and "no paper store yet" in why

    (tmp_path / "methodology").mkdir(exist_ok=True)  # status() made it
    shutil.copyfile(REPO_ROOT / "results" / "methodology" / "mnist1d-paper.sqlite",
                    tmp_path / "methodology" / "mnist1d-paper.sqlite")  # the GPU run's, one trial pending
    used, why = book.chapter_profile("methodology", "paper")
    assert used == "laptop" and "incomplete" in why and "1 pending" in why
    used, why = book.chapter_profile("implications", "paper")
    assert used == "laptop" and "methodology" in why


def test_complete_paper_stores_are_shown_at_paper(monkeypatch):
    def complete(chapter, dataset, profile, seed=0):
        return pending.Status(chapter, dataset, "store", 2, 2, 10, 0)

    monkeypatch.setattr(pending, "status", complete)
    assert book.chapter_profile("nmt", "paper") == ("paper", "")
    assert book.chapter_profile("implications", "paper") == ("paper", "")


def test_profiles_page_lists_every_chapter(tmp_path):
    path = book_pages.write_profiles([("counting", "paper", ""), ("methodology", "laptop", "no paper store yet")], tmp_path)
    text = path.read_text()
    assert path == tmp_path / "book" / "profiles.md"
    assert "| methodology | `laptop` | no paper store yet |" in text and "| counting | `paper` | as asked |" in text


def test_profiles_of_executed_notebooks_come_from_papermill(tmp_path):
    (tmp_path / "book").mkdir()
    notebook = {"cells": [], "metadata": {"papermill": {"parameters": {"profile": "smoke"}}}, "nbformat": 4,
                "nbformat_minor": 5}
    (tmp_path / "book" / "counting.ipynb").write_text(json.dumps(notebook))
    rows = book_pages.executed_profiles(["counting", "speech"], Path(tmp_path))
    assert rows == [("counting", "smoke", ""), ("speech", "not executed", "")]
