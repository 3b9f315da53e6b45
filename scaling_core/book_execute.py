"""Executing one chapter: its source, its parameters checked, papermill, and its notebook.

:func:`execute_chapter` turns a jupytext source in ``chapters/`` into an executed notebook
in ``book/`` with papermill parameters. A bad parameter stops it with one line before a
kernel starts; a failed cell leaves the good notebook as it was and writes the half-run one
beside it; a kernel that dies while starting is started again.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from scaling_core.experiments.contract import CHAPTER_PARAMETERS, CHAPTERS, configure
from scaling_core.paths import REPO_ROOT
from scaling_core.profiles import PROFILES, ParameterError, check_choice

KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
"""The kernel logs errors only: its warning that a local kernel talks over unencrypted TCP (on
every chapter) says nothing a reader can act on."""
KERNEL_START_FAILURE = "Kernel died before replying to kernel_info"
"""jupyter_client's error for a kernel that died while starting (e.g. its port was taken)."""
KERNEL_START_TRIES = 3


class ChapterError(RuntimeError):
    """A chapter failed to execute; the message is the one line that says why."""


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
    if source.stem in CHAPTERS:  # the chapter's own parameter checks, before a kernel starts
        configure(source.stem, **{name: parameters[name] for name in CHAPTER_PARAMETERS if name in parameters})
    elif "profile" in parameters:
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
    from papermill.exceptions import PapermillExecutionError

    source = chapter_source(source, root)
    parameters = dict(parameters or {})
    check_parameters(source, parameters)
    output_dir = Path(output_dir or root / "book")
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{source.stem}.ipynb"
    running = output_dir / f".{source.stem}.running.ipynb"  # papermill writes as it goes: never over the good one
    failed = output_dir / f"{source.stem}.failed.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        ipynb = Path(tmp) / f"{source.stem}.ipynb"
        jupytext.write(jupytext.read(source), ipynb)
        try:
            _execute_notebook(ipynb, running, parameters, root)
        except PapermillExecutionError as error:
            os.replace(running, failed)
            raise ChapterError(f"{source.name}: {error.ename}: {error.evalue} (half-run notebook: {failed}; "
                               f"{target.name} is left as it was)") from None
        except BaseException:
            running.unlink(missing_ok=True)
            raise
    _tag_injected_cell(running)
    os.replace(running, target)
    failed.unlink(missing_ok=True)
    return target


def _execute_notebook(ipynb: Path, output: Path, parameters: Mapping[str, Any], root: Path) -> None:
    """``papermill.execute_notebook``, retried when the kernel dies while it starts.

    Two kernels started at once (chapters executed side by side) can draw the same free
    port; the loser dies before it replies, no cell has run, and a new kernel starts
    cleanly (:data:`KERNEL_START_TRIES` in all).
    """
    import papermill

    for attempt in range(1, KERNEL_START_TRIES + 1):
        try:
            papermill.execute_notebook(
                str(ipynb), str(output), parameters=dict(parameters), cwd=str(root),
                kernel_name="python3", progress_bar=False, report_mode=False,
                extra_arguments=KERNEL_ARGUMENTS,
            )
            return
        except RuntimeError as error:
            if KERNEL_START_FAILURE not in str(error) or attempt == KERNEL_START_TRIES:
                raise
            time.sleep(attempt)


def _tag_injected_cell(path: Path) -> None:
    """Show papermill's injected parameters as a collapsed input, so readers see the values."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(notebook, path)
