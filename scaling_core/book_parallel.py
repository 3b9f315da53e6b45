"""Executing many chapters: one at a time, or side by side when none of them trains.

:func:`book_jobs` says how many chapters a build executes at once, :func:`execute_chapters`
runs them (each in a worker process with its own kernel, longest first), and
:func:`kernel_threads` shares the cores among the kernels.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Mapping

from scaling_core.book_execute import ChapterError, chapter_source, check_parameters, execute_chapter
from scaling_core.paths import REPO_ROOT

TRAINED_CHAPTERS = ("methodology", "nmt", "word_lm", "char_lm", "image", "speech")
"""Chapters whose figures come from trained sweeps (a ``paper`` book needs their paper stores)."""
READS_STORES = ("implications",)
"""Chapters that read the trained chapters' stores at their own profile."""

DEFAULT_JOBS = 2
"""Chapters :func:`build_book` executes at once (one kernel per core of a 2-core machine) when none trains."""
EXPECTED_SECONDS = {"implications": 77, "word_lm": 24, "nmt": 22, "char_lm": 18, "image": 16, "methodology": 14,
                    "counting": 14, "speech": 11}
"""CPU seconds of each chapter at ``laptop`` from the committed stores with an empty fit cache
(``benchmarks/bench_book.py --cold``, 2-core machine): a parallel build starts the longest first."""


def execution_order(keys: list[str]) -> list[str]:
    """``keys`` longest first (by :data:`EXPECTED_SECONDS`; ties and unknown chapters keep their order)."""
    return sorted(keys, key=lambda key: -EXPECTED_SECONDS.get(key, 0))


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
