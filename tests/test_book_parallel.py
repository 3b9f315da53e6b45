"""Chapters executed two at a time write what a one-at-a-time build writes, and fail the same way."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from scaling_core import book, book_parallel
from scaling_core.book_parallel import ChapterError, book_jobs, execute_chapters, execution_order

HEADER = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
          "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n")


def toy_chapters(root: Path) -> list[tuple[str, str, str]]:
    """Two small chapters with a ``profile`` parameter: ``alpha`` prints sums, ``beta`` fails at ``paper``."""
    (root / "chapters").mkdir(parents=True)
    (root / "chapters" / "alpha.md").write_text(
        HEADER + "```{code-cell} ipython3\n:tags: [parameters]\nprofile = 'laptop'\n```\n\n"
        "```{code-cell} ipython3\nimport numpy as np\nprint(profile, np.arange(10).sum())\n```\n\n"
        "```{code-cell} ipython3\nsum(i * i for i in range(100))\n```\n")
    (root / "chapters" / "beta.md").write_text(
        HEADER + "```{code-cell} ipython3\n:tags: [parameters]\nprofile = 'laptop'\n```\n\n"
        "```{code-cell} ipython3\nassert profile != 'paper', 'asked to fail'\nprint('beta at', profile)\n```\n")
    return [("alpha", "smoke", ""), ("beta", "smoke", "")]


def cells(path: Path) -> list:
    """What a reader sees of a notebook: each cell's type, source and outputs (not its timings)."""
    notebook = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, c.get("outputs"), c.metadata.get("tags")) for c in notebook.cells]


def test_parallel_chapters_write_the_notebooks_a_serial_build_writes(tmp_path):
    rows = toy_chapters(tmp_path)
    lines = []
    serial = execute_chapters(rows, {}, tmp_path / "serial", tmp_path, jobs=1, log=lines.append)
    parallel = execute_chapters(rows, {}, tmp_path / "parallel", tmp_path, jobs=2, log=lines.append)
    assert [p.name for p in serial] == [p.name for p in parallel] == ["alpha.ipynb", "beta.ipynb"]
    for one, other in zip(serial, parallel):
        assert cells(one) == cells(other)
    assert "smoke 45" in str(cells(parallel[0]))
    assert sorted(p.name for p in (tmp_path / "parallel").iterdir()) == ["alpha.ipynb", "beta.ipynb"]
    assert any("2 at a time" in line for line in lines)


def test_a_failed_chapter_of_a_parallel_build_fails_as_in_a_serial_one(tmp_path):
    toy_chapters(tmp_path)
    rows = [("alpha", "smoke", ""), ("beta", "paper", "")]
    out = tmp_path / "book"
    with pytest.raises(ChapterError, match="beta.md: AssertionError: asked to fail.*beta.failed.ipynb"):
        execute_chapters(rows, {}, out, tmp_path, jobs=2, log=lambda _: None)
    assert sorted(p.name for p in out.iterdir()) == ["alpha.ipynb", "beta.failed.ipynb"]


def test_a_bad_parameter_stops_a_parallel_build_before_any_kernel(tmp_path):
    rows = toy_chapters(tmp_path)
    with pytest.raises(Exception, match="nonsense"):
        execute_chapters(rows, {"nonsense": 1}, tmp_path / "book", tmp_path, jobs=2, log=lambda _: None)
    assert not (tmp_path / "book").exists() or not any((tmp_path / "book").iterdir())


def test_chapters_run_one_at_a_time_when_one_would_train(monkeypatch):
    rows = [("counting", "laptop", ""), ("nmt", "laptop", ""), ("implications", "laptop", "")]
    monkeypatch.setattr(book_parallel.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(book_parallel, "_stores_complete", lambda key, profile, parameters: True)
    assert book_jobs(rows) == (2, "")
    assert book_jobs(rows, jobs=1) == (1, "")
    monkeypatch.setattr(book_parallel, "_stores_complete", lambda key, profile, parameters: key != "nmt")
    assert book_jobs(rows) == (1, "nmt has sweeps to train")


def test_a_chapter_without_its_stores_counts_as_training():
    # the tests' results folder is empty (conftest): the committed stores are not there
    jobs, why = book_jobs([("methodology", "smoke", ""), ("counting", "smoke", "")], jobs=2)
    assert jobs == 1 and why.startswith("methodology")


def test_the_longest_chapter_starts_first():
    assert execution_order(["counting", "nmt", "implications", "toy"])[:2] == ["implications", "nmt"]
    assert execution_order(["toy", "other"]) == ["toy", "other"]
