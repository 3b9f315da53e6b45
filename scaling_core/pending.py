"""The chapters' sweeps still to run at a profile, and a time-boxed run of the next ones.

``scaling-core pending --profile paper`` lists, in :data:`QUEUE` order, each chapter's
store and whether its sweeps are complete. ``scaling-core run-pending --profile paper
--device cuda --budget 510 --out DIR`` copies the existing stores into ``DIR/results``,
runs the incomplete chapters one after another (resuming what an earlier run left)
until the budget is spent, and writes ``DIR/summary.json``; the stores under
``DIR/results/<chapter>/`` are then committed in place of the old ones. A sweep the
budget cuts keeps every finished trial, and the next run goes on from there.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from scaling_core.paths import RESULTS_ENV, REPO_ROOT, store_path
from scaling_core.experiments.contract import chapter_module, configure
from scaling_core.profiles import PROFILES, check_choice
from scaling_core.sweep.spec import spec_identity

QUEUE = (("methodology", "mnist1d"), ("image", "mnist1d"), ("nmt", "g2p"), ("speech", "espeak"),
         ("word_lm", "kjv"), ("char_lm", "kjv"), ("image", "cifar10"), ("nmt", "multi30k"))
"""Chapter sweeps in the order a GPU run takes them (the order of the GPU issues: methodology and
image, translation and speech, then the language models), each with its dataset."""


@dataclass
class Status:
    """Where one chapter's sweeps stand in a store."""

    chapter: str
    dataset: str
    store: str
    sweeps: int  # sweeps the chapter runs first (a later one may depend on their results)
    complete: int  # of those, recorded complete with the current spec
    trials_done: int  # finished trials in the store (done or failed)
    trials_pending: int  # planned trials not finished


def chapter_config(chapter: str, profile: str, dataset: str | None, device: str = "cpu", seed: int = 0,
                   data_dir: str | None = None):
    """The experiment module of ``chapter`` and its configuration (:func:`~scaling_core.experiments.contract.configure`)."""
    config = configure(chapter, profile=profile, seed=seed, device=device, dataset=dataset, data_dir=data_dir)
    return chapter_module(chapter), config


def status(chapter: str, dataset: str, profile: str, seed: int = 0) -> Status:
    """How far ``chapter``'s sweeps at ``profile`` are in its store (reading, never creating it)."""
    module, config = chapter_config(chapter, profile, dataset, seed=seed)
    path = store_path(chapter, profile, dataset)
    specs = module.sweep_specs(config)
    complete = done = pending = 0
    if path.exists():
        with contextlib.closing(sqlite3.connect(path)) as db:  # closed: no -wal/-shm files left behind
            recorded = dict(db.execute("SELECT name, spec FROM sweeps WHERE completed_at IS NOT NULL"))
            complete = sum(1 for s in specs if s.name in recorded
                           and spec_identity(json.loads(recorded[s.name])["spec"]) == s.identity())
            counts = dict(db.execute("SELECT status IN ('done', 'failed'), count(*) FROM trials GROUP BY 1"))
            done, pending = counts.get(1, 0), counts.get(0, 0)
    return Status(chapter, dataset, str(path), len(specs), complete, done, pending)


def pending(profile: str, queue=QUEUE, seed: int = 0) -> list[Status]:
    """The :class:`Status` of every queued chapter whose first sweeps are not all complete."""
    check_choice("profile", profile, PROFILES)
    return [s for s in (status(c, d, profile, seed) for c, d in queue) if s.complete < s.sweeps]


def run_pending(profile: str, device: str, budget: float, out: str | Path, queue=QUEUE, seed: int = 0,
                results: str | Path | None = None) -> list[dict]:
    """Run the pending chapters of ``queue`` at ``profile`` for at most ``budget`` seconds, into ``out``.

    Parameters
    ----------
    profile, device, seed
        As the chapters take them.
    budget : float
        Seconds; every sweep stops cleanly before this much time has passed.
    out : path
        Gets ``results/<chapter>/<dataset>-<profile>.sqlite`` (the existing stores from
        ``results``, default the repository's, resumed) and ``summary.json``.

    Returns
    -------
    list of dict
        One row per chapter attempted: wall seconds, trials finished before and after, and
        whether its sweeps are complete or the budget cut them.
    """
    from scaling_core.sweep.budget import TimeBudgetExceeded, time_budget

    check_choice("profile", profile, PROFILES)
    out, source = Path(out), Path(results or REPO_ROOT / "results")
    started, rows = time.time(), []
    previous = os.environ.get(RESULTS_ENV)
    os.environ[RESULTS_ENV] = str(out / "results")
    try:
        for chapter, dataset in queue:
            _copy_store(source, out / "results", chapter, dataset, profile)
            before = status(chapter, dataset, profile, seed)
            if before.complete == before.sweeps:
                continue
            left = budget - (time.time() - started)
            if left <= 0:
                break
            begun, outcome = time.time(), "complete"
            try:
                module, config = chapter_config(chapter, profile, dataset, device, seed)
                with time_budget(left):
                    module.run(config)
            except TimeBudgetExceeded:
                outcome = "cut by the time budget"
            except Exception as error:  # noqa: BLE001 - one chapter's failure (e.g. missing data) is reported
                outcome = f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            gc.collect()  # close the stores' connections
            after = status(chapter, dataset, profile, seed)
            _checkpoint(Path(after.store))
            rows.append({"chapter": chapter, "dataset": dataset, "profile": profile, "device": device,
                         "seconds": round(time.time() - begun, 1), "trials_before": before.trials_done,
                         "trials_after": after.trials_done, "pending_after": after.trials_pending,
                         "outcome": outcome})
            if outcome.startswith("cut"):
                break
    finally:
        if previous is None:
            os.environ.pop(RESULTS_ENV, None)
        else:
            os.environ[RESULTS_ENV] = previous
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"budget_s": budget, "rows": rows}, indent=1))
    return rows


def _copy_store(source: Path, target: Path, chapter: str, dataset: str, profile: str) -> None:
    """The existing store of a chapter into ``target`` (so a run resumes it), if there is one and none there."""
    name = f"{dataset}-{profile}.sqlite"
    origin, destination = source / chapter / name, target / chapter / name
    if origin.exists() and not destination.exists():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, destination)


def _checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the store file, so the one file holds every trial."""
    if path.exists():
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def format_status(rows: list[Status]) -> str:
    lines = [f"{'chapter':<12} {'dataset':<9} {'sweeps done':>11} {'trials':>7} {'pending':>8}  store"]
    for s in rows:
        lines.append(f"{s.chapter:<12} {s.dataset:<9} {f'{s.complete}/{s.sweeps}':>11} {s.trials_done:>7} "
                     f"{s.trials_pending:>8}  {s.store}")
    return "\n".join(lines)
