"""The book pipeline: jupytext source -> papermill (with parameters) -> jupyter-book HTML.

Chapter sources in ``chapters/`` are MyST-markdown notebooks without outputs.
:func:`execute_chapter` runs one of them with papermill parameters into ``book/``;
:func:`build_book` executes every chapter listed in ``_toc.yml`` and compiles the HTML
with Jupyter Book, which reads the executed notebooks and never runs a kernel itself.

A ``paper`` book never trains on the machine that builds it: a chapter whose ``paper``
stores are not complete (:func:`chapter_profile`) is shown at ``laptop`` instead, and
``book/profiles.md`` (included in the intro page) says which profile each chapter's
figures come from and why (:mod:`scaling_core.book_pages`, which also marks a page run at
another profile or seed and gives a chapter never executed a placeholder page).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

import yaml

from scaling_core.book_execute import (  # noqa: F401 (re-exported: book.execute_chapter, ...)
    KERNEL_START_FAILURE, ChapterError, chapter_source, check_parameters, execute_chapter, notebook_parameters,
)
from scaling_core.book_pages import executed_profiles, mark_outliers, write_placeholders, write_profiles
from scaling_core.book_parallel import (  # noqa: F401 (re-exported)
    READS_STORES, TRAINED_CHAPTERS, book_jobs, execute_chapters, execution_order,
)
from scaling_core.paths import REPO_ROOT
from scaling_core.profiles import PROFILES, check_choice

BOOK_FILES = ("_config.yml", "_toc.yml", "intro.md", "references.md", "references.bib", "book_assets")

FALLBACK = "laptop"


def toc_chapters(root: Path = REPO_ROOT) -> list[str]:
    """Chapter keys in ``_toc.yml`` order (entries of the form ``book/<key>``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [f.split("/", 1)[1] for f in files if f.startswith("book/")]


def stage_book(staging: Path, root: Path = REPO_ROOT) -> Path:
    """Copy the book's configuration and pages into ``staging`` (for builds outside the repo)."""
    staging.mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, staging / name, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, staging / name)
    return staging


def build_html(book_root: Path) -> Path:
    """Compile the HTML with Jupyter Book (warnings are errors) and return its folder."""
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(book_root), "--builder", "html", "-W", "-n", "--keep-going"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise ChapterError(f"jupyter-book build failed:\n{tail}")
    return book_root / "_build" / "html"


def chapter_profile(key: str, profile: str, root: Path = REPO_ROOT) -> tuple[str, str]:
    """The profile chapter ``key`` is executed at in a book built at ``profile``, and why, if not that one.

    At ``paper``, a trained chapter whose default dataset's ``paper`` sweeps are not all complete
    in its store runs at ``laptop`` (its committed stores); a chapter that reads the trained
    chapters' stores runs at ``paper`` only when they all do.
    """
    if profile != "paper" or key not in TRAINED_CHAPTERS + READS_STORES:
        return profile, ""
    if key in READS_STORES:
        behind = [k for k in TRAINED_CHAPTERS if k in toc_chapters(root) and chapter_profile(k, profile, root)[0] != profile]
        if behind:
            return FALLBACK, f"reads the stores of every trained chapter; {', '.join(behind)} have no complete paper store"
        return profile, ""
    from scaling_core.pending import chapter_config, status

    _, config = chapter_config(key, profile, None)
    state = status(key, config.dataset, profile)
    if state.complete == state.sweeps:
        return profile, ""
    if state.trials_done == 0:
        return FALLBACK, f"no paper store yet ({config.dataset}); it needs a GPU run"
    return FALLBACK, (f"paper store incomplete ({config.dataset}): {state.complete} of {state.sweeps} sweeps complete, "
                      f"{state.trials_done} trials finished, {state.trials_pending} pending")


def build_book(
    profile: str = "laptop",
    chapters: list[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    staging: str | Path | None = None,
    execute: bool = True,
    root: Path = REPO_ROOT,
    log=print,
    jobs: int | None = None,
) -> Path:
    """Execute every chapter at ``profile`` and build the HTML book; return the HTML folder.

    With ``staging``, the book is assembled in that folder instead of the repository
    (the executed notebooks go to ``<staging>/book``, the HTML to ``<staging>/_build/html``).
    With ``execute=False``, the notebooks already in ``book/`` are compiled as they are.
    ``jobs`` chapters (default :data:`DEFAULT_JOBS`) are executed at once when none of them
    has a sweep to train (:func:`book_jobs`); each chapter's notebook and failure are
    those of :func:`execute_chapter`.
    """
    check_choice("profile", profile, PROFILES)
    book_root = stage_book(Path(staging)) if staging else root
    toc = toc_chapters(root)
    keys = chapters or toc
    rows = []
    if execute:
        rows = [(key, *chapter_profile(key, profile, root)) for key in keys]
        jobs, why_serial = book_jobs(rows, parameters, jobs)
        if why_serial:
            log(f"executing one chapter at a time: {why_serial}")
        execute_chapters(rows, parameters, book_root / "book", root, jobs, log)
    write_profiles(executed_profiles(toc, book_root, {key: (used, why) for key, used, why in rows}), book_root)
    for key in write_placeholders(toc, book_root, root):
        log(f"{key}: not executed in this build (a placeholder page says so)")
    for key in mark_outliers(toc, book_root):
        log(f"{key}: executed at another profile or seed than the rest (its page says so)")
    log("building html")
    return build_html(book_root)
