"""The book pipeline: jupytext source -> papermill (with parameters) -> jupyter-book HTML.

Chapter sources in ``chapters/`` are MyST-markdown notebooks without outputs.
:func:`execute_chapter` runs one of them with papermill parameters into ``book/``;
:func:`build_book` executes every chapter listed in ``_toc.yml`` and compiles the HTML
with Jupyter Book, which reads the executed notebooks and never runs a kernel itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

import yaml

from scaling_core.paths import REPO_ROOT
from scaling_core.profiles import PROFILES, ParameterError, check_choice

BOOK_FILES = ("_config.yml", "_toc.yml", "intro.md", "references.md", "book_assets")


class ChapterError(RuntimeError):
    """A chapter failed to execute; the message is the one line that says why."""


def toc_chapters(root: Path = REPO_ROOT) -> list[str]:
    """Chapter keys in ``_toc.yml`` order (entries of the form ``book/<key>``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [f.split("/", 1)[1] for f in files if f.startswith("book/")]


def chapter_source(key_or_path: str | Path, root: Path = REPO_ROOT) -> Path:
    """The source of a chapter given its key (``counting``) or a path to it."""
    path = Path(key_or_path)
    if path.suffix != ".md":
        path = root / "chapters" / f"{key_or_path}.md"
    if not path.exists():
        known = sorted(p.stem for p in (root / "chapters").glob("*.md"))
        raise ParameterError("chapter", str(key_or_path), ", ".join(known))
    return path


def notebook_parameters(source: Path) -> list[str]:
    """Names assigned in the chapter's ``parameters`` cell."""
    import jupytext
    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        ipynb = Path(tmp) / f"{source.stem}.ipynb"
        jupytext.write(jupytext.read(source), ipynb)
        return list(papermill.inspect_notebook(str(ipynb)))


def check_parameters(source: Path, parameters: Mapping[str, Any]) -> None:
    """Reject parameter names the chapter does not declare and profiles that do not exist."""
    allowed = notebook_parameters(source)
    for name in parameters:
        if name not in allowed:
            raise ParameterError(name, parameters[name], f"a parameter of {source.name}: {', '.join(allowed)}")
    if "profile" in parameters:
        check_choice("profile", parameters["profile"], PROFILES)


def execute_chapter(
    source: str | Path,
    parameters: Mapping[str, Any] | None = None,
    output_dir: str | Path | None = None,
    root: Path = REPO_ROOT,
) -> Path:
    """Execute one chapter with papermill and return the executed notebook's path.

    Parameters
    ----------
    source : str or Path
        A chapter key (``"counting"``) or the path of its ``.md`` source.
    parameters : mapping, optional
        Papermill parameters, e.g. ``{"profile": "smoke", "seed": 3}``.
    output_dir : path, optional
        Where ``<key>.ipynb`` is written (default ``<root>/book``).

    Raises
    ------
    ParameterError
        For an unknown parameter name or profile, before anything runs.
    ChapterError
        When a cell fails; the message is the cell's one-line error.
    """
    import jupytext
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = chapter_source(source, root)
    parameters = dict(parameters or {})
    check_parameters(source, parameters)
    output_dir = Path(output_dir or root / "book")
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{source.stem}.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        ipynb = Path(tmp) / f"{source.stem}.ipynb"
        jupytext.write(jupytext.read(source), ipynb)
        try:
            papermill.execute_notebook(
                str(ipynb), str(target), parameters=parameters, cwd=str(root),
                kernel_name="python3", progress_bar=False, report_mode=False,
            )
        except PapermillExecutionError as error:
            raise ChapterError(f"{source.name}: {error.ename}: {error.evalue}") from None
    _tag_injected_cell(target)
    return target


def _tag_injected_cell(path: Path) -> None:
    """Show papermill's injected parameters as a collapsed input, so readers see the values."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(notebook, path)


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


def build_book(
    profile: str = "laptop",
    chapters: list[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    staging: str | Path | None = None,
    execute: bool = True,
    root: Path = REPO_ROOT,
    log=print,
) -> Path:
    """Execute every chapter at ``profile`` and build the HTML book; return the HTML folder.

    With ``staging``, the book is assembled in that folder instead of the repository
    (the executed notebooks go to ``<staging>/book``, the HTML to ``<staging>/_build/html``).
    With ``execute=False``, the notebooks already in ``book/`` are compiled as they are.
    """
    check_choice("profile", profile, PROFILES)
    book_root = stage_book(Path(staging)) if staging else root
    for key in chapters or toc_chapters(root):
        if execute:
            log(f"executing {key} (profile {profile})")
            execute_chapter(key, {"profile": profile, **dict(parameters or {})}, book_root / "book", root)
    log("building html")
    return build_html(book_root)
