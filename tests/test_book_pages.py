"""The pages that say which run each chapter comes from: banners, placeholders, parameters."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from scaling_core import book_pages
from scaling_core.paths import REPO_ROOT


def write_notebook(folder: Path, key: str, injected: dict | None = None) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell(f"# Chapter {key}"),
        nbformat.v4.new_code_cell('profile = "laptop"   # smoke | laptop | paper\nseed = 0\ndataset = None',
                                  metadata={"tags": ["parameters", "remove-cell"]}),
        nbformat.v4.new_markdown_cell("Some prose."),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    notebook.metadata["papermill"] = {"parameters": injected or {}}  # as papermill leaves an executed notebook
    path = folder / "book" / f"{key}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def banners(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if book_pages.BANNER_TAG in c["metadata"].get("tags", [])]


def test_executed_parameters_are_the_defaults_overlaid_with_what_papermill_injected(tmp_path):
    path = write_notebook(tmp_path, "counting", {"seed": 3})
    assert book_pages.executed_parameters(path) == {"profile": "laptop", "seed": 3, "dataset": None}


def test_a_page_run_at_another_profile_or_seed_gets_a_banner_and_loses_it_when_rerun_like_the_rest(tmp_path):
    for key in ("counting", "methodology"):
        write_notebook(tmp_path, key)
    odd = write_notebook(tmp_path, "nmt", {"profile": "smoke", "seed": 2})
    assert book_pages.mark_outliers(["counting", "methodology", "nmt"], tmp_path) == ["nmt"]
    (text,) = banners(odd)
    assert "profile `smoke` with seed 2" in text and "profile `laptop` with seed 0" in text
    assert "scaling-core chapter nmt -p profile laptop -p seed 0" in text
    cells = json.loads(odd.read_text())["cells"]
    assert "".join(cells[0]["source"]).startswith("# Chapter nmt")  # the banner comes after the title
    assert book_pages.mark_outliers(["counting", "methodology", "nmt"], tmp_path) == ["nmt"]
    assert len(banners(odd)) == 1  # a second build replaces it, never stacks
    write_notebook(tmp_path, "nmt", {"profile": "laptop"})
    assert book_pages.mark_outliers(["counting", "methodology", "nmt"], tmp_path) == []
    assert banners(tmp_path / "book" / "counting.ipynb") == []


def test_a_chapter_never_executed_gets_a_placeholder_page_removed_once_it_is(tmp_path):
    write_notebook(tmp_path, "counting")
    written = book_pages.write_placeholders(["counting", "speech"], tmp_path, REPO_ROOT)
    assert written == ["speech"]
    page = (tmp_path / "book" / "speech.md").read_text()
    assert page.splitlines()[1].startswith("# ") and "scaling-core chapter speech" in page
    write_notebook(tmp_path, "speech")
    assert book_pages.write_placeholders(["counting", "speech"], tmp_path, REPO_ROOT) == []
    assert not (tmp_path / "book" / "speech.md").exists()
