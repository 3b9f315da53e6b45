"""A learning-curve sweep: shards, model search, training, results store.

:func:`run_sweep` walks the shards from smallest to largest. The candidates for
shard k are projected from the winner on shard k-1 (see
:mod:`scaling_core.sweep.search`), so shards run one after another while the
trials of one shard run in parallel. Every trial is recorded, winners or not.

Resume comes from the store: a trial whose key is already ``done`` or ``failed``
is not run again, and an unfinished one (killed while ``running``) is rerun.
A sweep recorded complete with the same spec is only read, without building the
task or its data, so committed results rebuild the book without training. Every trial
keeps the code version that made it (the store keeps the hash of each file of each
version): when today's code differs, a sweep is *stale* (:func:`staleness` says which
files differ). A stale trial is still read, not silently retrained, unless
``rerun_stale=True``: a resumed sweep finds a finished trial of the same configuration
and data made by other code (its ``config_key``) and uses it.

A time budget (``deadline``, or :mod:`scaling_core.sweep.budget`) stops a sweep cleanly
and the next run resumes where it stopped. The spec is :mod:`scaling_core.sweep.spec`; what
the store records of a completed sweep, and its staleness, :mod:`scaling_core.sweep.records`.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from scaling_core.data.shards import Shard, nested_shards
from scaling_core.sweep.budget import TimeBudgetExceeded, current_deadline
from scaling_core.sweep.executors import LocalExecutor
from scaling_core.sweep.keys import config_key, files_version, git_commit, trial_key, trial_seed
from scaling_core.sweep.records import completed_record, staleness, sweep_trials
from scaling_core.sweep.search import plan_shard
from scaling_core.sweep.spec import SweepSpec
from scaling_core.sweep.store import FINISHED, Store
from scaling_core.sweep.task import Task, allowed_families, example_order
from scaling_core.sweep.trial import Trial
from scaling_core.sweep.worker import stack_groups


def run_sweep(
    spec: SweepSpec,
    store: Store | str | Path,
    executor=None,
    progress: bool = True,
    history: bool = False,
    deadline: float | None = None,
    rerun_stale: bool = False,
) -> pd.DataFrame:
    """Run (or resume, or only read) a sweep and return its trials.

    Parameters
    ----------
    spec : SweepSpec
    store : Store or path
        The results store; trials already finished in it are not run again.
    executor : LocalExecutor or RayExecutor, optional
        Default: one in-process worker.
    progress : bool
        Show a progress bar with ETA.
    history : bool
        Include each trial's evaluations (a list of dicts per row).
    deadline : float, optional
        A ``time.time()`` value at which to stop (default :func:`current_deadline`).
    rerun_stale : bool
        Retrain a completed sweep whose code version differs from today's (default: read it).

    Returns
    -------
    pandas.DataFrame
        One row per trial of this sweep (see :meth:`Store.to_frame`).

    Raises
    ------
    TimeBudgetExceeded
        The deadline came first; finished trials are stored, the sweep is not complete.
    """
    store = store if isinstance(store, Store) else Store(store)
    if completed_record(store, spec) is None or (rerun_stale and staleness(store, spec) is not None):
        executor = executor or LocalExecutor()
        deadline = current_deadline() if deadline is None else deadline
        sweep = _Sweep(spec, store, executor, deadline, rerun_stale)
        keys = sweep.run(progress)
        store.mark_complete(spec.name, json.dumps({
            "spec": spec.identity(), "keys": keys, "code": sweep.code, "git_commit": git_commit(),
        }, sort_keys=True))  # the code's files are in the store's code_versions
    return sweep_trials(store, spec, history)


def best_per_shard(frame: pd.DataFrame, metric: str, by_family: bool = True) -> pd.DataFrame:
    """The winning trial of each shard (of each family when ``by_family``).

    The winner has the lowest ``metric`` among finished (``done``) trials; ties go
    to the smaller model, then the trial key, so the choice is deterministic.
    """
    if metric not in frame.columns:  # no trial finished: no metric columns at all
        return frame.iloc[0:0]
    done = frame[(frame["status"] == "done") & frame[metric].notna()]
    ordered = done.sort_values([metric, "size", "key"])
    groups = ["shard", "family"] if by_family else ["shard"]
    return ordered.groupby(groups, sort=True).head(1).sort_values(groups).reset_index(drop=True)


class _Sweep:
    """The driver's state while a sweep runs: the task, its shards, the store."""

    def __init__(self, spec: SweepSpec, store: Store, executor, deadline: float | None = None,
                 rerun_stale: bool = False):
        self.spec, self.store, self.executor, self.deadline = spec, store, executor, deadline
        self.rerun_stale = rerun_stale
        self.task: Task = spec.task.build()
        _check_families(spec, self.task)
        order = example_order(self.task, spec.seed)
        self.shards = nested_shards(self.task.example_units(), list(spec.shard_sizes), order=order)
        self.files = spec.code_files()
        self.code = files_version(self.files)
        store.add_code_version(self.code, self.files, git_commit())
        self.artefacts = str(store.path.with_suffix(".artefacts")) if spec.save_models else None

    def run(self, progress: bool) -> list[str]:
        keys: list[str] = []
        winners: dict[str, tuple[float, float]] = {}  # family -> (best size, its shard units)
        with tqdm(total=self._expected_trials(), disable=not progress, desc=self.spec.name,
                  unit="trial") as bar:
            for shard in self.shards:
                self._check_budget(bar)
                jobs, rows = self._plan(shard, winners)
                self.store.add(rows)
                keys += [job.key for job in jobs]
                if self._run_jobs(jobs, bar):
                    self._check_budget(bar, cut=True)
                winners.update(self._winners(shard, [job.key for job in jobs], winners))
        return keys

    def _check_budget(self, bar, cut: bool = False) -> None:
        if cut or (self.deadline is not None and time.time() >= self.deadline):
            done = int((self.store.to_frame(self.spec.name)["status"].isin(FINISHED)).sum())
            raise TimeBudgetExceeded(f"sweep {self.spec.name!r} stopped at its time budget with {done} trials "
                                     f"finished ({bar.n} of about {bar.total} this run); run it again to resume")

    def _expected_trials(self) -> int:
        later = len(self.shards) - 1
        return sum(s.samples * (len(set(s.grid)) + later * len(s.growth)) for s in self.spec.searches)

    def _plan(self, shard: Shard, winners) -> tuple[list[Trial], list[dict]]:
        jobs, rows = [], []
        for search in self.spec.searches:
            best, units = winners.get(search.family, (None, None))
            ratio = shard.units / units if units else None
            for trial in plan_shard(search, shard.index, self.spec.seed, best, ratio):
                job, row = self._job(shard, trial)
                jobs.append(job)
                rows.append(row)
        if not self.rerun_stale:  # finished by other code: read as stale, not trained again
            statuses = self.store.statuses(row["key"] for row in rows)
            unknown = [row["config_key"] for row in rows if row["key"] not in statuses]
            stale = self.store.finished_by_config(unknown) if unknown else {}
            for i, row in enumerate(rows):
                if row["key"] not in statuses and row["config_key"] in stale:
                    rows[i] = {**row, "key": stale[row["config_key"]]}
                    jobs[i] = replace(jobs[i], key=rows[i]["key"])  # its stored seed and results stay
        return jobs, rows

    def _job(self, shard: Shard, trial: Trial) -> tuple[Trial, dict[str, Any]]:
        """The planned ``trial`` placed on ``shard``, keyed, and its row for the store."""
        trial = replace(trial, task=self.spec.task, shard=shard.index, shard_units=shard.units,
                        shard_length=shard.length, shard_seed=self.spec.seed, settings=self.spec.trainer)
        config = trial.identity(self.task.name)
        key = trial_key(config, self.code, self.task.fingerprint)
        trial = replace(trial, key=key, trial_seed=trial_seed(key), artefact_dir=self.artefacts,
                        deadline=self.deadline)
        row = {**trial.choice(), "key": key, "sweep": self.spec.name, "task": self.task.name,
               "unit": self.task.unit, "shard": shard.index, "shard_units": shard.units,
               "shard_examples": shard.length, "seed": self.spec.seed, "trial_seed": trial.trial_seed,
               "config": config, "code_version": self.code, "git_commit": git_commit(),
               "fingerprint": self.task.fingerprint, "config_key": config_key(config, self.task.fingerprint)}
        return trial, row

    def _run_jobs(self, jobs: list[Trial], bar) -> bool:
        """Run the unfinished ``jobs``; ``True`` if the time budget cut any of them."""
        statuses = self.store.statuses(job.key for job in jobs)
        todo = [job for job in jobs if statuses.get(job.key) not in FINISHED]
        bar.update(len(jobs) - len(todo))
        started = lambda job, device: self.store.start(job.key, device)  # noqa: E731
        stack = getattr(self.executor, "stack", 1)
        if stack > 1 and getattr(self.task, "stackable", False) and not self.spec.save_models:
            todo = stack_groups(todo, stack)  # trials differing only in learning rate and seed train together
        cut = False
        for job, outcome in self.executor.run(todo, on_start=started):
            if outcome.get("status") == "cut":
                self.store.release(job.key)
                cut = True
                continue
            self.store.finish(job.key, outcome)
            bar.update(1)
        return cut

    def _winners(self, shard: Shard, keys: list[str], winners) -> dict[str, tuple[float, float]]:
        """This shard's best size per family (families without a winner keep their last)."""
        frame = self.store.to_frame(self.spec.name)
        frame = frame[frame["key"].isin(keys)]
        best = best_per_shard(frame, self.task.metrics[0]) if len(frame) else frame
        return {row.family: (row.size, shard.units) for row in best.itertuples()}


def _check_families(spec: SweepSpec, task: Task) -> None:
    for search in spec.searches:
        if search.family not in task.families:
            raise ValueError(
                f"parameter 'family' got {search.family!r}; allowed: {allowed_families(task)}"
            )
