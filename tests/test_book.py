"""The book pipeline end to end: parameters, the built HTML, and charts drawn offline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scaling_core.book import toc_chapters
from scaling_core.cli import main

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ALLOWED_CONSOLE = ("THEBE_JS_URL",)  # jupyter-book 1.x declares it twice on every page


def render(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium with networking off; return the DOM and console lines."""
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
        "--v=0", "--virtual-time-budget=8000", "--proxy-server=127.0.0.1:9",
        "--dump-dom", page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def console_errors(console: list[str]) -> list[str]:
    pattern = re.compile(r"Uncaught|Error|Failed|ERR_|blocked|refused", re.IGNORECASE)
    return [l for l in console if pattern.search(l) and not any(a in l for a in ALLOWED_CONSOLE)]


def test_every_chapter_in_the_toc_is_built(smoke_html):
    for key in toc_chapters():
        assert (smoke_html / "book" / f"{key}.html").exists(), key


def test_glued_numbers_are_filled_in(smoke_html):
    for key in toc_chapters():
        html = (smoke_html / "book" / f"{key}.html").read_text()
        assert "{glue:" not in html and "glue:text" not in html, key


@pytest.mark.browser
def test_charts_draw_offline_without_console_errors(smoke_html, tmp_path, chromium):
    for key in toc_chapters():
        page = smoke_html / "book" / f"{key}.html"
        charts = page.read_text().count('class="vega-chart"')
        dom, console = render(page, tmp_path)
        drawn = re.findall(r'<div id="vega-[^"]+" class="vega-chart vega-embed[^"]*"[^>]*><svg', dom)
        assert charts > 0 and len(drawn) == charts, f"{key}: {len(drawn)} of {charts} charts drawn"
        assert "mjx-container" in dom or "$" not in page.read_text(), f"{key}: equations not typeset"
        assert console_errors(console) == [], key


def test_unknown_profile_stops_with_one_line(capsys):
    assert main(["chapter", "counting", "-p", "profile", "huge"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'profile'" in err and "'smoke', 'laptop', 'paper'" in err


def test_unknown_parameter_name_stops_with_one_line(capsys):
    assert main(["chapter", "counting", "-p", "sead", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'sead'" in err and "seed" in err


def test_a_bad_value_stops_the_chapter_with_one_line_before_a_kernel_starts(tmp_path):
    command = [sys.executable, "-m", "scaling_core.cli", "chapter", "counting",
               "-p", "profile", "smoke", "-p", "seed", "-1", "--output-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 2
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "parameter 'seed' got -1" in err[0] and "non-negative integer" in err[0]
    assert not list(tmp_path.iterdir())  # checked by the chapter contract: nothing was executed


@pytest.mark.parametrize("key", toc_chapters())
def test_every_chapter_declares_the_shared_parameters(key):
    from scaling_core.book import chapter_source, notebook_parameters

    names = notebook_parameters(chapter_source(key))
    assert {"profile", "seed", "device", "dataset", "data_dir"} <= set(names), names


def test_a_failed_chapter_keeps_the_good_notebook_and_writes_the_half_run_one_beside_it(tmp_path):
    from scaling_core.book import ChapterError, execute_chapter

    source = tmp_path / "toy.md"
    source.write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
        "```{code-cell} ipython3\n:tags: [parameters]\nfail = False\n```\n\n"
        "```{code-cell} ipython3\nassert not fail, 'asked to fail'\nprint('fine')\n```\n")
    out = tmp_path / "book"
    good = execute_chapter(source, {"fail": False}, output_dir=out, root=tmp_path)
    before = good.read_bytes()
    with pytest.raises(ChapterError, match="asked to fail.*toy.failed.ipynb"):
        execute_chapter(source, {"fail": True}, output_dir=out, root=tmp_path)
    assert good.read_bytes() == before  # the good notebook is untouched
    assert (out / "toy.failed.ipynb").exists()
    assert sorted(p.name for p in out.iterdir()) == ["toy.failed.ipynb", "toy.ipynb"]  # no temporary left
    execute_chapter(source, {"fail": False}, output_dir=out, root=tmp_path)
    assert not (out / "toy.failed.ipynb").exists()  # a later success clears the failure


FIGURE = re.compile(r"<figure\b.*?</figure>", re.S)


@pytest.mark.parametrize("key", toc_chapters())
def test_every_chart_is_a_numbered_figure_with_a_caption(smoke_html, key):
    page = (smoke_html / "book" / f"{key}.html").read_text()
    figures = FIGURE.findall(page)
    declared = (REPO / "chapters" / f"{key}.md").read_text().count("```{glue:figure}")
    assert declared > 0 and len(figures) == declared, f"{key}: {len(figures)} figures for {declared} declared"
    for figure in figures:
        assert re.search(r'<span class="caption-number">Fig\. \d+', figure), figure[:200]
        caption = re.search(r"<figcaption>(.*?)</figcaption>", figure, re.S)
        assert caption and len(re.sub(r"<[^>]+>", "", caption.group(1)).split()) >= 5, figure[:200]
    inside = sum(f.count('class="vega-chart"') for f in figures)
    assert inside == page.count('class="vega-chart"'), f"{key}: a chart outside a numbered figure"


@pytest.mark.parametrize("key", toc_chapters())
def test_every_chapter_refers_to_a_figure_by_number_and_cites_a_work(smoke_html, key):
    page = (smoke_html / "book" / f"{key}.html").read_text()
    targets = set(re.findall(r'<figure\b[^>]*\bid="([^"]+)"', page))
    references = re.findall(r'href="#(fig-[^"]+)"><span class="std std-numref">Fig\. \d+</span>', page)
    assert references and set(references) <= targets, f"{key}: figure references {references}"
    citations = re.findall(r'class="bibtex-citation"[^>]*>\[<a class="reference internal" href="\.\./references\.html#(\w+)"',
                           page)
    assert citations, f"{key}: no citation"
    bibliography = (smoke_html / "references.html").read_text()
    for anchor in citations:
        assert f'id="{anchor}"' in bibliography, f"{key}: citation #{anchor} not on the references page"


def test_a_downloaded_notebook_shows_every_chart_without_the_book(smoke_html):
    executed = smoke_html.parent.parent / "book"
    charts = 0
    for key in toc_chapters():
        notebook = json.loads((executed / f"{key}.ipynb").read_text())
        for cell in notebook["cells"]:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "vega-chart" in "".join(data.get("text/html", "")):
                    charts += 1
                    svg = "".join(data.get("image/svg+xml", ""))
                    assert svg.lstrip().startswith("<svg") and "marks" in svg, f"{key}: a chart without its static SVG"
                    assert "<svg" in "".join(data["text/html"]), f"{key}: the HTML has no drawing until the bundle loads"
    assert charts > 0


def test_one_chapter_rebuilds_into_a_fresh_folder(tmp_path):
    from scaling_core.book import build_book

    html = build_book(profile="smoke", chapters=["counting"], staging=tmp_path / "stage", log=lambda _: None)
    assert FIGURE.search((html / "book" / "counting.html").read_text())
    other = (html / "book" / "speech.html").read_text()
    assert "not executed in this build" in other
    assert re.search(r'scaling-core</span> <span class="pre">chapter</span> <span class="pre">speech', other)


def test_a_kernel_that_dies_while_starting_is_started_again(tmp_path, monkeypatch):
    import nbformat
    import papermill

    from scaling_core import book, book_execute

    calls = []

    def flaky(source, output, **options):
        calls.append(options["parameters"])
        if len(calls) == 1:  # what a kernel whose port was taken by another one raises
            raise RuntimeError(book.KERNEL_START_FAILURE)
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# ran")]), output)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    monkeypatch.setattr(book_execute.time, "sleep", lambda seconds: None)
    path = book.execute_chapter("counting", {"profile": "smoke"}, output_dir=tmp_path)
    assert len(calls) == 2 and path.exists()

    def broken(source, output, **options):
        raise RuntimeError("something else")

    monkeypatch.setattr(papermill, "execute_notebook", broken)
    with pytest.raises(RuntimeError, match="something else"):
        book.execute_chapter("counting", {"profile": "smoke"}, output_dir=tmp_path)
    assert path.exists()  # the good notebook stays
