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

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

import yaml

from scaling_core.book_pages import executed_profiles, mark_outliers, write_placeholders, write_profiles
from scaling_core.paths import REPO_ROOT
from scaling_core.experiments.contract import CHAPTER_PARAMETERS, CHAPTERS, configure
from scaling_core.profiles import PROFILES, ParameterError, check_choice

KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
KERNEL_START_FAILURE = "Kernel died before replying to kernel_info"
"""jupyter_client's error for a kernel that died while starting (e.g. its port was taken)."""
KERNEL_START_TRIES = 3
"""The kernel logs errors only: its warning that a local kernel talks over unencrypted TCP (on
every chapter) says nothing a reader can act on."""

BOOK_FILES = ("_config.yml", "_toc.yml", "intro.md", "references.md", "references.bib", "book_assets")

TRAINED_CHAPTERS = ("methodology", "nmt", "word_lm", "char_lm", "image", "speech")
"""Chapters whose figures come from trained sweeps (a ``paper`` book needs their paper stores)."""
READS_STORES = ("implications",)
"""Chapters that read the trained chapters' stores at their own profile."""
FALLBACK = "laptop"
DEFAULT_JOBS = 2
"""Chapters :func:`build_book` executes at once (one kernel per core of a 2-core machine) when none trains."""
EXPECTED_SECONDS = {"implications": 77, "word_lm": 24, "nmt": 22, "char_lm": 18, "image": 16, "methodology": 14,
                    "counting": 14, "speech": 11}
"""CPU seconds of each chapter at ``laptop`` from the committed stores with an empty fit cache
(``benchmarks/bench_book.py --cold``, 2-core machine): a parallel build starts the longest first."""


def execution_order(keys: list[str]) -> list[str]:
    """``keys`` longest first (by :data:`EXPECTED_SECONDS`; ties and unknown chapters keep their order)."""
    return sorted(keys, key=lambda key: -EXPECTED_SECONDS.get(key, 0))


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


def book_jobs(rows: list[tuple[str, str, str]], parameters: Mapping[str, Any] | None = None,
              jobs: int | None = None) -> tuple[int, str]:
    """How many of the chapters ``rows`` (key, profile, why) to execute at once, and why only one.

    ``jobs`` (default :data:`DEFAULT_JOBS`, at most the machine's cores) when every trained
    chapter among them finds all its sweeps complete in its store (it only reads them);
    one when a chapter would train, since its sweep already uses the cores (and a chapter
    whose stores cannot be checked counts as training).
    """
    jobs = min(DEFAULT_JOBS if jobs is None else int(jobs), os.cpu_count() or 1, len(rows))
    if jobs <= 1:
        return 1, ""
    parameters = dict(parameters or {})
    training = [key for key, used, _ in rows if key in TRAINED_CHAPTERS and not _stores_complete(key, used, parameters)]
    if training:
        return 1, f"{', '.join(training)} {'has' if len(training) == 1 else 'have'} sweeps to train"
    return jobs, ""


def _stores_complete(key: str, profile: str, parameters: Mapping[str, Any]) -> bool:
    """Whether every sweep of chapter ``key`` at ``profile`` (and the given dataset and seed) is complete."""
    from scaling_core.pending import chapter_config, status

    try:
        _, config = chapter_config(key, profile, parameters.get("dataset"), seed=int(parameters.get("seed", 0)))
        state = status(key, config.dataset, profile, seed=int(parameters.get("seed", 0)))
    except Exception:  # noqa: BLE001 - whatever stops the check, the chapter may train: run it alone
        return False
    return state.complete == state.sweeps


def execute_chapters(rows: list[tuple[str, str, str]], parameters: Mapping[str, Any] | None, output_dir: Path,
                     root: Path = REPO_ROOT, jobs: int = 1, log=print) -> list[Path]:
    """Execute the chapters ``rows`` (key, profile, why) into ``output_dir``, ``jobs`` at a time.

    One at a time in ``rows`` order, as :func:`execute_chapter` does; with ``jobs > 1``,
    every chapter's parameters are checked first, then each chapter runs in a worker
    process of its own (its own kernel), longest first (:func:`execution_order`). The
    kernels' threads are set by :func:`kernel_threads`. The first chapter that fails
    stops the chapters not yet started; the running ones finish, and its
    :class:`ChapterError` is raised as in a serial build.
    """
    parameters = dict(parameters or {})
    plan = {key: ({**parameters, "profile": used}, why) for key, used, why in rows}
    if jobs <= 1:
        paths = []
        with _environment(kernel_threads(1)):
            for key, (chosen, why) in plan.items():
                log(f"executing {key} (profile {chosen['profile']}{'; ' + why if why else ''})")
                paths.append(execute_chapter(key, chosen, output_dir, root))
        return paths
    import concurrent.futures
    import multiprocessing
    import time

    for key, (chosen, _) in plan.items():  # a bad parameter stops the build before any kernel starts
        check_parameters(chapter_source(key, root), chosen)
    order = execution_order(list(plan))
    log(f"executing {len(order)} chapters, {jobs} at a time, longest first: {', '.join(order)}")
    done, failure, started = {}, None, time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_set_environment, initargs=(kernel_threads(jobs),)) as pool:
        futures = {}
        for key in order:
            chosen, why = plan[key]
            log(f"executing {key} (profile {chosen['profile']}{'; ' + why if why else ''})")
            futures[pool.submit(_execute_in_worker, key, chosen, str(output_dir), str(root))] = key
        for future in concurrent.futures.as_completed(futures):
            key = futures[future]
            if future.cancelled():
                continue
            outcome, value = future.result()
            if outcome == "ok":
                done[key] = Path(value)
                log(f"executed {key} ({time.perf_counter() - started:.0f} s into the build)")
                continue
            if failure is None:
                failure = ChapterError(value) if outcome == "chapter" else RuntimeError(value)
                for other in futures:
                    other.cancel()  # the chapters not started yet; the running ones finish
    if failure is not None:
        raise failure
    return [done[key] for key in plan]


def kernel_threads(jobs: int) -> dict[str, str]:
    """Thread settings for the kernels of a book build executing ``jobs`` chapters at once.

    NumPy's and SciPy's OpenBLAS gets one thread: the chapters' fits solve matrices of a
    few rows, on which its extra threads only spin (a chapter's fits took twice the CPU
    time and longer on an idle 2-core machine with them). With ``jobs > 1`` the OpenMP and
    MKL threads (torch's) share the cores among the jobs too. A variable already set in
    the environment is left as it is.
    """
    settings = {"OPENBLAS_NUM_THREADS": "1"}
    if jobs > 1:
        share = str(max(1, (os.cpu_count() or 1) // jobs))
        settings.update(OMP_NUM_THREADS=share, MKL_NUM_THREADS=share)
    return {name: value for name, value in settings.items() if name not in os.environ}


def _set_environment(settings: Mapping[str, str]) -> None:
    os.environ.update(settings)


@contextlib.contextmanager
def _environment(settings: Mapping[str, str]):
    """``os.environ`` with ``settings`` (inherited by the kernels started inside), restored afterwards."""
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _execute_in_worker(key: str, parameters: dict, output_dir: str, root: str) -> tuple[str, str]:
    """:func:`execute_chapter` in a worker process: ``("ok", path)``, or the failure's kind and one line."""
    try:
        return "ok", str(execute_chapter(key, parameters, Path(output_dir), Path(root)))
    except ChapterError as error:
        return "chapter", str(error)
    except Exception as error:  # noqa: BLE001 - any other error crosses the process boundary as text
        import traceback

        return "other", f"{key}: {type(error).__name__}: {error}\n{traceback.format_exc()}"


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
    keys = chapters or toc_chapters(root)
    rows = []
    if execute:
        rows = [(key, *chapter_profile(key, profile, root)) for key in keys]
        jobs, why_serial = book_jobs(rows, parameters, jobs)
        if why_serial:
            log(f"executing one chapter at a time: {why_serial}")
        execute_chapters(rows, parameters, book_root / "book", root, jobs, log)
    toc = toc_chapters(root)
    write_profiles(executed_profiles(toc, book_root, {key: (used, why) for key, used, why in rows}), book_root)
    for key in write_placeholders(toc, book_root, root):
        log(f"{key}: not executed in this build (a placeholder page says so)")
    for key in mark_outliers(toc, book_root):
        log(f"{key}: executed at another profile or seed than the rest (its page says so)")
    log("building html")
    return build_html(book_root)
